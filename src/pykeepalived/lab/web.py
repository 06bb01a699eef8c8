"""A small web server for the lab's web nodes: answers every GET with its own address, as the
seed's nginx page does (``ip addr show eth1 ... > index.html``).

Run inside a web node's namespace: ``python -m pykeepalived.lab.web --ip 192.168.88.10``.
Each connection is logged as ``<client address> <client port> <path>`` to ``--log``.
``GET /stream/SECONDS`` answers a long download instead: one chunk every ``CHUNK_EVERY_S`` for
that long (the active-active lab measures stalls and resets of long flows with it).
"""

import argparse
import asyncio
import sys
from typing import TextIO

CHUNK = b"x" * 1000
CHUNK_EVERY_S = 0.02
MAX_STREAM_S = 120


def stream_length(seconds: float) -> int:
    """Bytes a ``/stream/SECONDS`` answer carries (the client checks it got them all)."""
    return int(min(seconds, MAX_STREAM_S) / CHUNK_EVERY_S) * len(CHUNK)


async def _stream(writer: asyncio.StreamWriter, seconds: float, own: str) -> None:
    total = stream_length(seconds)
    head = (
        f"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nX-Server: {own}\r\n"
        f"Content-Length: {total}\r\n\r\n"
    )
    writer.write(head.encode())
    loop = asyncio.get_running_loop()
    start = loop.time()
    for n in range(total // len(CHUNK)):
        writer.write(CHUNK)
        await writer.drain()
        await asyncio.sleep(max(0.0, start + (n + 1) * CHUNK_EVERY_S - loop.time()))


async def serve(own: str, port: int, log: TextIO | None) -> None:
    body = f"{own}\n".encode()
    head = f"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\n\r\n"

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(MAX_STREAM_S + 10):
                request = await reader.readuntil(b"\r\n\r\n")
                path = request.split(b" ", 2)[1].decode(errors="replace")
                if log is not None:
                    peer = writer.get_extra_info("peername")
                    log.write(f"{peer[0]} {peer[1]} {path}\n")
                if path.startswith("/stream/"):
                    await _stream(writer, float(path.removeprefix("/stream/")), own)
                    return
                writer.write(head.encode() + body)
                await writer.drain()
        except (OSError, TimeoutError, asyncio.IncompleteReadError, IndexError, ValueError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "0.0.0.0", port, reuse_address=True)
    async with server:
        print("ready", flush=True)
        await server.serve_forever()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--ip", required=True, help="the address this node answers with")
    p.add_argument("--port", type=int, default=80)
    p.add_argument("--log", help="append one line per connection here")
    args = p.parse_args()
    log = open(args.log, "a", buffering=1) if args.log else None  # noqa: SIM115
    try:
        asyncio.run(serve(args.ip, args.port, log))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
