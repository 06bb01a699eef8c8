"""Helpers for the HTTP layer's tests: an aiohttp test client around ``make_app``."""

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from tests.api.fakes import FakeDaemon

from pykeepalived.api.http import make_app
from pykeepalived.api.settings import ApiSettings

TOKEN = "s3cret-token"


@pytest.fixture
def token_file(tmp_path: Path) -> str:
    path = tmp_path / "api.token"
    path.write_text(TOKEN + "\n")
    return str(path)


@contextlib.asynccontextmanager
async def api_client(
    daemon: FakeDaemon, token_file: str | None = None
) -> AsyncIterator[TestClient[object, object]]:
    app = make_app(daemon, ApiSettings(port=0, token_file=token_file))
    async with TestClient(TestServer(app)) as client:
        yield client


def auth(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@contextlib.asynccontextmanager
async def api_client_with(
    daemon: FakeDaemon, settings: ApiSettings
) -> AsyncIterator[TestClient[object, object]]:
    async with TestClient(TestServer(make_app(daemon, settings))) as client:
        yield client
