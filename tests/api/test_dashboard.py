"""The dashboard in a real browser against the fake daemon: it renders the snapshot, asks for
the token once, drains and undrains through the API, and says so when the token is wrong."""

import asyncio
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from tests.api.browser import chromium_page
from tests.api.conftest import TOKEN
from tests.api.fakes import FakeDaemon

from pykeepalived.api.http import make_app
from pykeepalived.api.settings import ApiSettings

SHOTS = Path(os.environ.get("PYKEEPALIVED_SCREENSHOTS", "/tmp/pykeepalived-screens"))


class Served:
    def __init__(self, token_file: str, host: str = "127.0.0.1") -> None:
        self.host = host
        self.daemon = FakeDaemon()
        self.port = 0
        self.ready = threading.Event()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stop: asyncio.Event | None = None
        self.thread = threading.Thread(target=asyncio.run, args=(self._main(token_file),))

    async def _main(self, token_file: str) -> None:
        self.loop, self.stop = asyncio.get_running_loop(), asyncio.Event()
        # The policy follows settings.host; the socket is always on 127.0.0.1 in tests.
        settings = ApiSettings(host=self.host, port=0, token_file=token_file)
        runner = web.AppRunner(make_app(self.daemon, settings), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        self.port = int(runner.addresses[0][1])
        self.ready.set()
        try:
            await self.stop.wait()
        finally:
            await runner.cleanup()

    def close(self) -> None:
        assert self.loop is not None
        assert self.stop is not None
        self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(10)


@pytest.fixture
def served(token_file: str) -> Iterator[Served]:
    srv = Served(token_file)
    srv.thread.start()
    assert srv.ready.wait(10)
    yield srv
    srv.close()


def test_dashboard_shows_state_and_drains_with_the_token(served: Served) -> None:
    with chromium_page() as page_obj:
        page: Any = page_obj
        prompts: list[str] = []

        def answer(dialog: Any) -> None:
            prompts.append(dialog.message)
            dialog.accept(TOKEN)

        page.on("dialog", answer)
        page.goto(f"http://127.0.0.1:{served.port}/")
        row = page.locator('tr[data-rs="192.168.88.10:80"]')
        row.wait_for()
        assert page.locator('tr[data-rs="192.168.88.11:80"]').count() == 1
        assert page.locator('tr[data-instance="VI_1"] .badge').inner_text() == "MASTER"
        assert "event 4" in page.locator("#events").inner_text()
        row.locator('button[data-action="drain"]').click()
        row.locator('button[data-action="undrain"]').wait_for()
        assert "drained" in row.inner_text()
        assert row.locator("td.weight").inner_text() == "0"
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "dashboard-fake-drained.png"), full_page=True)
        row.locator('button[data-action="undrain"]').click()
        row.locator('button[data-action="drain"]').wait_for()
        assert row.locator("td.weight").inner_text() == "1"
        assert len(prompts) == 1, "the token is asked for once, then kept for the session"
        kinds = [c.kind.value for c in served.daemon.commands]
        assert kinds == ["drain", "undrain"]


def test_dashboard_wrong_token_changes_nothing_and_says_so(served: Served) -> None:
    with chromium_page() as page_obj:
        page: Any = page_obj
        page.on("dialog", lambda dialog: dialog.accept("not-the-token"))
        page.goto(f"http://127.0.0.1:{served.port}/")
        row = page.locator('tr[data-rs="192.168.88.10:80"]')
        row.locator('button[data-action="drain"]').click()
        page.locator("#notice.error").wait_for()
        assert "HTTP 401" in page.locator("#notice").inner_text()
        assert served.daemon.commands == []
        assert page.locator("#token").inner_text() == "Set token"


def test_dashboard_beyond_loopback_reads_with_the_token(token_file: str) -> None:
    """Listening beyond loopback, the state needs the token: the page says so, then shows it."""
    wide = Served(token_file, host="0.0.0.0")
    wide.thread.start()
    assert wide.ready.wait(10)
    try:
        with chromium_page() as page_obj:
            page: Any = page_obj
            page.on("dialog", lambda dialog: dialog.accept(TOKEN))
            page.goto(f"http://127.0.0.1:{wide.port}/")
            refreshed = page.locator("#refreshed")
            refreshed.filter(has_text="cannot read the state").wait_for()
            assert "Bearer" in refreshed.inner_text()
            assert page.locator('tr[data-rs="192.168.88.10:80"]').count() == 0
            page.locator("#token").click()
            page.locator('tr[data-rs="192.168.88.10:80"]').wait_for()
            assert page.locator("#token").inner_text() == "Forget token"
    finally:
        wide.close()


def test_dashboard_releases_and_reclaims_mastership(served: Served) -> None:
    with chromium_page() as page_obj:
        page: Any = page_obj
        page.on("dialog", lambda dialog: dialog.accept(TOKEN))
        page.goto(f"http://127.0.0.1:{served.port}/")
        row = page.locator('tr[data-instance="VI_1"]')
        row.locator('button[data-action="release-master"]').click()
        row.locator('button[data-action="reclaim-master"]').wait_for()
        assert row.locator(".badge").inner_text() == "BACKUP"
        assert "held by api" in row.inner_text()
        row.locator('button[data-action="reclaim-master"]').click()
        page.locator("#notice").wait_for()
        row.locator('button[data-action="reclaim-master"]').wait_for(state="detached")
        assert "held" not in row.inner_text()
        kinds = [c.kind.value for c in served.daemon.commands]
        assert kinds == ["release-master", "reclaim-master"]
