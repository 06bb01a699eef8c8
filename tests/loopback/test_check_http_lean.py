"""HTTP_GET's lean path (status only, bare socket) judges sick servers as the streams path does.

The lean path sends the request right after ``connect()`` and reads only the header block;
each row is a server misbehaving in one way, and both paths must give the same verdict.
"""

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from loopback_servers import LOCAL, free_tcp_port, silent, stream_server

from pykeepalived.check.probes import http
from pykeepalived.check.probes.common import ProbeTarget

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
LEAN = http.HttpParams(urls=(http.Url(path="/"),))
STREAMS = http.HttpParams(urls=(http.Url(path="/", regex="."),))  # a regex forces streams


def replying(*chunks: bytes, pause: float = 0.0) -> Handler:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        for chunk in chunks:
            writer.write(chunk)
            await writer.drain()
            await asyncio.sleep(pause)
        writer.close()

    return handle


@pytest.mark.parametrize(
    ("handler", "ok", "reason"),
    [
        (replying(b"HTTP/1.0 200 OK\r\n\r\nbody"), True, "url(s) ok"),
        (replying(b"HTTP/1.1 20", b"0 OK\r\nX: y\r", b"\n\r\nbody", pause=0.02), True, "ok"),
        (replying(b"HTTP/1.0 503 Busy\r\n\r\n"), False, "status 503 on /"),
        (replying(b"HTTP/1.0 200 OK\r\n"), False, "closed early"),
        (replying(b"SSH-2.0-OpenSSH\r\n\r\n"), False, "bad_status_line"),
        (silent, False, "timeout after 0.3s"),
    ],
)
def test_lean_and_streams_paths_agree(handler: Handler, ok: bool, reason: str) -> None:
    async def go() -> None:
        async with stream_server(handler) as port:
            target = ProbeTarget(connect_ip=LOCAL, connect_port=port, connect_timeout_s=0.3)
            lean = await http.probe(target, LEAN)
            if ok:  # a regex "." needs a body: the streams path is compared on failures only
                assert lean.ok, lean.reason
                return
            streams = await http.probe(target, STREAMS)
        assert (lean.ok, streams.ok) == (False, False)
        assert reason in lean.reason
        assert reason in streams.reason

    assert LEAN.status_only
    assert not STREAMS.status_only
    asyncio.run(go())


def test_lean_path_refused_and_oversized_head() -> None:
    async def go() -> None:
        refused = ProbeTarget(connect_ip=LOCAL, connect_port=free_tcp_port())
        result = await http.probe(refused, LEAN)
        assert not result.ok
        assert "refused" in result.reason
        big = replying(b"HTTP/1.0 200 OK\r\n" + b"X: " + b"y" * (70 * 1024) + b"\r\n\r\n")
        async with stream_server(big) as port:
            target = ProbeTarget(connect_ip=LOCAL, connect_port=port, connect_timeout_s=2)
            result = await http.probe(target, LEAN)
        assert not result.ok
        assert "oversized_head" in result.reason

    asyncio.run(go())
