"""The API companion: --api beats global_defs, bad specs and taken ports do not stop the daemon."""

import asyncio
import json
import logging
import socket
import urllib.request

import pytest
from tests.api.fakes import FakeDaemon

from pykeepalived.api.companion import api_companion
from pykeepalived.config.loader import load
from pykeepalived.config.model import KeepalivedConfig


class ConfiguredFake(FakeDaemon):
    def __init__(self, global_defs: str = "") -> None:
        super().__init__()
        result = load("k.conf", text=f"global_defs {{\n{global_defs}\n}}\n")
        assert result.ok
        self.config: KeepalivedConfig | None = result.config


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def health_from(daemon: ConfiguredFake, listen: str | None, port: int) -> dict[str, object]:
    stop = asyncio.Event()
    task = asyncio.create_task(api_companion(listen, None)(daemon, stop))
    try:
        for _ in range(100):
            await asyncio.sleep(0.02)
            try:
                body = await asyncio.to_thread(
                    lambda: urllib.request.urlopen(
                        f"http://127.0.0.1:{port}/api/v1/health", timeout=2
                    ).read()
                )
            except OSError:
                continue
            return dict(json.loads(body))
        raise AssertionError("the API did not come up")
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


def test_global_defs_api_listen_starts_the_api() -> None:
    port = free_port()
    daemon = ConfiguredFake(f"api_listen {port}")
    assert asyncio.run(health_from(daemon, None, port))["status"] == "ok"


def test_the_command_line_beats_global_defs() -> None:
    port = free_port()
    daemon = ConfiguredFake("api_listen 127.0.0.1:1")
    assert asyncio.run(health_from(daemon, f"127.0.0.1:{port}", port))["status"] == "ok"


@pytest.mark.parametrize("spec", ["nonsense", "localhost:80"])
def test_a_bad_listen_spec_is_logged_and_the_daemon_goes_on(
    spec: str, caplog: pytest.LogCaptureFixture
) -> None:
    stop = asyncio.Event()
    asyncio.run(api_companion(spec, None)(ConfiguredFake(), stop))
    assert "API not started" in caplog.text


def test_a_taken_port_is_logged_and_the_daemon_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with caplog.at_level(logging.ERROR):
            asyncio.run(api_companion(str(port), None)(ConfiguredFake(), asyncio.Event()))
    assert f"cannot listen on 127.0.0.1:{port}" in caplog.text


def test_no_api_configured_returns_at_once() -> None:
    asyncio.run(asyncio.wait_for(api_companion(None, None)(ConfiguredFake(), asyncio.Event()), 2))
