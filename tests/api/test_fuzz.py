"""The API survives malformed requests: >= 1,000 generated from the OpenAPI document (paths,
methods, parameters, bodies, headers, with and without the token) plus raw byte garbage, sent
over real sockets to a server on 127.0.0.1. No answer may be a 5xx, and the server must still
answer afterwards."""

import asyncio
import json
import logging
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.api.conftest import TOKEN
from tests.api.fakes import VS_ID, FakeDaemon

from pykeepalived.api.http import start_api
from pykeepalived.api.openapi import build_openapi
from pykeepalived.api.settings import ApiSettings

PATHS = sorted(build_openapi()["paths"])
METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE", "G\x01T", "get"]


class Server:
    def __init__(self, token_file: str) -> None:
        self.daemon = FakeDaemon()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stop = asyncio.Event()
        self.ready = threading.Event()
        self.port = 0
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(token_file,), daemon=True)

    def _run(self, token_file: str) -> None:
        async def main() -> None:
            self.loop = asyncio.get_running_loop()
            runner, self.port = await start_api(
                self.daemon, ApiSettings(port=0, token_file=token_file)
            )
            self.ready.set()
            try:
                await self.stop.wait()
            finally:
                await runner.cleanup()

        try:
            asyncio.run(main())  # cancels and awaits what is left at the end
        except BaseException as exc:  # reported by the test
            self.error = exc
            self.ready.set()

    def request(self, raw: bytes) -> int | None:
        """Send raw bytes; the status code of the answer, or None if the server closed.

        A request the server waits on (a body shorter than its Content-Length, no blank line)
        gets our half-close after 0.3 s; half-closing at once would race the answer."""
        data = b""
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
            try:
                sock.sendall(raw)
                sock.settimeout(0.3)
                try:
                    data = sock.recv(65536)
                except TimeoutError:
                    sock.shutdown(socket.SHUT_WR)
                    sock.settimeout(10)
                    data = sock.recv(65536)
            except (ConnectionResetError, BrokenPipeError):
                pass
        if not data:
            return None
        status_line = data.split(b"\r\n", 1)[0].split()
        assert status_line[0].startswith(b"HTTP/1."), data[:200]
        return int(status_line[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    token_file = Path(tmp_path_factory.mktemp("fuzz")) / "token"
    token_file.write_text(TOKEN)
    srv = Server(str(token_file))
    srv.thread.start()
    assert srv.ready.wait(10)
    assert srv.error is None, srv.error
    yield srv
    assert srv.loop is not None
    srv.loop.call_soon_threadsafe(srv.stop.set)
    srv.thread.join(10)
    assert srv.error is None, srv.error


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
near_valid = st.fixed_dictionaries(
    {},
    optional={
        "virtual_server": st.sampled_from([VS_ID, "", "x" * 300]) | st.text(max_size=30),
        "address": st.sampled_from(["192.168.88.10", "::1", ""]) | st.text(max_size=20),
        "port": st.sampled_from([80, 0, -1, 65536, 2**70]) | json_values,
        "weight": st.sampled_from([0, 1, 65535, 65536, -5, 1.5]) | json_values,
    },
)


def _path(template: str, name: str) -> str:
    return template.replace("{name}", quote(name, safe=""))


@st.composite
def requests(draw: st.DrawFn) -> bytes:
    method = draw(st.sampled_from(METHODS))
    path = _path(draw(st.sampled_from(PATHS)), draw(st.sampled_from(["VI_1"]) | st.text()))
    if draw(st.booleans()):
        path += "?" + draw(
            st.sampled_from(["limit=", "since=", "limit=-3&", "since=1e999&", "a=%ff&"])
        )
        path += quote(draw(st.text(max_size=10)))
    body = draw(
        st.one_of(
            st.just(b""),
            st.binary(max_size=64),
            json_values.map(lambda v: json.dumps(v).encode()),
            near_valid.map(lambda v: json.dumps(v).encode()),
        )
    )
    headers = [b"Host: 127.0.0.1", b"Connection: close"]
    auth = draw(st.sampled_from([None, f"Bearer {TOKEN}", "Bearer x", "bearer", "Basic a"]))
    if auth is not None:
        headers.append(f"Authorization: {auth}".encode())
    length = draw(st.sampled_from(["exact", "none", "short", "long", "junk"]))
    if length == "exact":
        headers.append(f"Content-Length: {len(body)}".encode())
    elif length in ("short", "long"):
        headers.append(
            f"Content-Length: {max(0, len(body) + (-3 if length == 'short' else 3))}".encode()
        )
    elif length == "junk":
        headers.append(b"Content-Length: " + draw(st.binary(max_size=6)))
    headers += draw(st.lists(st.binary(min_size=1, max_size=40), max_size=2))
    head = f"{method} {path} HTTP/1.1".encode(errors="surrogateescape")
    return head + b"\r\n" + b"\r\n".join(headers) + b"\r\n\r\n" + body


FUZZ = settings(
    max_examples=1000,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@FUZZ
@given(raw=requests())
def test_requests_from_the_document_never_get_a_5xx(server: Server, raw: bytes) -> None:
    status = server.request(raw)
    assert status is None or status < 500, raw[:300]


@settings(FUZZ, max_examples=300)
@given(raw=st.binary(max_size=300))
def test_raw_garbage_never_gets_a_5xx(server: Server, raw: bytes) -> None:
    status = server.request(raw)
    assert status is None or status < 500, raw[:300]


def test_the_server_still_answers_after_the_fuzz(server: Server) -> None:
    get = b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    assert server.request(get) == 200
    snapshot_ok: Any = server.daemon.snapshot()
    assert snapshot_ok.virtual_servers


def test_malformed_requests_are_logged_once_a_minute_without_traceback(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        for _ in range(20):
            assert server.request(b"\x00\x01 nonsense\r\n\r\n") == 400
    records = [r for r in caplog.records if r.name == "pykeepalived.api.protocol"]
    assert len(records) <= 1
    assert all(r.exc_info is None and r.levelno == logging.WARNING for r in records)
