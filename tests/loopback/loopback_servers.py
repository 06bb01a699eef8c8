"""Real servers on 127.0.0.1 ephemeral ports, for the probe and runner tests.

Each one is an async context manager yielding its port; all state a test wants to look at
(requests seen, SNI names) is on the returned object.
"""

import asyncio
import contextlib
import socket
import ssl
import struct
import subprocess
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LOCAL = "127.0.0.1"


@dataclass
class HttpRoute:
    status: int = 200
    body: bytes = b"hello"
    content_length: bool = True


@dataclass
class HttpServer:
    routes: dict[str, HttpRoute] = field(default_factory=dict)
    heads: list[bytes] = field(default_factory=list)
    sni: list[str | None] = field(default_factory=list)
    port: int = 0
    server: asyncio.Server | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            return
        self.heads.append(head)
        path = head.split(b" ")[1].decode()
        route = self.routes.get(path, HttpRoute(status=404, body=b"nope"))
        length = f"Content-Length: {len(route.body)}\r\n" if route.content_length else ""
        writer.write(f"HTTP/1.0 {route.status} X\r\n{length}\r\n".encode() + route.body)
        with contextlib.suppress(ConnectionError):
            await writer.drain()


@contextlib.asynccontextmanager
async def http_server(
    routes: dict[str, HttpRoute],
    tls: ssl.SSLContext | None = None,
    port: int = 0,
    host: str = LOCAL,
) -> AsyncIterator[HttpServer]:
    state = HttpServer(routes=routes)
    if tls is not None:
        tls.sni_callback = lambda _sock, name, _ctx: state.sni.append(name)  # type: ignore[assignment,misc]
    async with _serving(state.handle, port, tls, host) as (server, port_):
        state.server, state.port = server, port_
        yield state


@contextlib.asynccontextmanager
async def stream_server(
    handler: Callable[[asyncio.StreamReader, asyncio.StreamWriter], object], port: int = 0
) -> AsyncIterator[int]:
    async def quiet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            await handler(reader, writer)  # type: ignore[misc]

    async with _serving(quiet, port, None) as (_, port_):
        yield port_


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Coroutine[Any, Any, None]]


@contextlib.asynccontextmanager
async def _serving(
    handler: Handler, port: int, tls: ssl.SSLContext | None, host: str = LOCAL
) -> AsyncIterator[tuple[asyncio.Server, int]]:
    """Serve; on exit stop every connection handler and close its socket (no stray warnings)."""
    tasks: set[asyncio.Task[None]] = set()
    writers: set[asyncio.StreamWriter] = set()

    async def tracked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)  # type: ignore[arg-type]
        writers.add(writer)
        try:
            await handler(reader, writer)
        finally:
            writer.close()

    server = await asyncio.start_server(tracked, host, port, ssl=tls, reuse_address=True)
    try:
        yield server, server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for writer in writers:
            writer.transport.abort()
        await server.wait_closed()
        await asyncio.sleep(0)  # let the transports' connection_lost callbacks run


async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Accept and never answer: the peer that makes a checker wait."""
    del writer
    await reader.read()  # until the client gives up


def smtp(greeting: int = 220, helo: int = 250) -> Callable[..., object]:
    async def talk(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(f"{greeting}-first line\r\n{greeting} stub ready\r\n".encode())
        line = await reader.readline()
        assert line.startswith(b"HELO ")
        writer.write(f"{helo} hi\r\n".encode())
        if await reader.readline() == b"QUIT\r\n":
            writer.write(b"221 bye\r\n")
        await writer.drain()

    return talk


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, answer: Callable[[bytes], bytes | None]) -> None:
        self.answer = answer
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        reply = self.answer(data)
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply, addr)


@contextlib.asynccontextmanager
async def udp_server(answer: Callable[[bytes], bytes | None]) -> AsyncIterator[int]:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        lambda: _Datagrams(answer), local_addr=(LOCAL, 0)
    )
    try:
        yield transport.get_extra_info("sockname")[1]
    finally:
        transport.close()


def dns_answer(rcode: int = 0, wrong_id_first: bool = True) -> Callable[[bytes], bytes | None]:
    """A DNS stub: echoes the question with QR set and ``rcode``."""

    def answer(query: bytes) -> bytes:
        qid, flags = struct.unpack_from("!HH", query)
        return struct.pack("!HHHHHH", qid, 0x8000 | flags | rcode, 1, 0, 0, 0) + query[12:]

    return answer


def free_udp_port() -> int:
    """A UDP port with nobody behind it (closed right after we learn it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((LOCAL, 0))
        port: int = sock.getsockname()[1]
        return port


def free_tcp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOCAL, 0))
        port: int = sock.getsockname()[1]
        return port


def self_signed(tmp: Path, name: str = "test.local") -> tuple[Path, Path]:
    """A throwaway certificate for ``name`` and 127.0.0.1, made by the openssl CLI."""
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", f"/CN={name}",
         "-addext", f"subjectAltName=DNS:{name},IP:127.0.0.1"],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    return cert, key


def server_tls(cert: Path, key: Path) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return ctx
