"""A tiny HTTP server for the namespace tests: answers its own address, logs each client.

Run inside a real-server namespace: ``python nsweb.py <own-ip> <port> <log-file>``; it
listens on IPv4 and IPv6. ``GET /`` answers the own (IPv4) address, whatever the family;
``GET /slow?n=30`` streams ``n`` lines (one per 0.1 s),
each the own address, so that a test holds a connection open while it changes the table.
Every connection appends ``<client-ip> <client-port> <path>`` to the log (flushed at once).
Further arguments are addresses to answer UDP on (same port): each datagram gets the own
address back, from the address it was sent to (bind the VIP itself for DR), and is logged
with the path ``udp``.
"""

import asyncio
import sys
from typing import Any, TextIO

STEP_S = 0.1


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, own: str, log: TextIO) -> None:
        self.own, self.log = own, log
        self.transport: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # a datagram transport (not a registered subclass)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        del data
        self.log.write(f"{addr[0]} {addr[1]} udp\n")
        self.transport.sendto(self.own.encode(), addr)


async def serve(own: str, port: int, log: TextIO, udp: list[str]) -> None:
    loop = asyncio.get_running_loop()
    for address in udp:
        await loop.create_datagram_endpoint(lambda: _Udp(own, log), local_addr=(address, port))

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(30):
                request = await reader.readuntil(b"\r\n\r\n")
                path = request.split(b" ", 2)[1].decode()
                peer = writer.get_extra_info("peername")
                log.write(f"{peer[0]} {peer[1]} {path}\n")
                if path.startswith("/slow"):
                    lines = int(path.partition("n=")[2] or "30")
                    writer.write(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n")
                    for _ in range(lines):
                        writer.write(f"{own}\n".encode())
                        await writer.drain()
                        await asyncio.sleep(STEP_S)
                else:
                    body = own.encode()
                    head = f"HTTP/1.0 200 OK\r\nContent-Length: {len(body)}\r\n\r\n"
                    writer.write(head.encode() + body)
                await writer.drain()
        except (OSError, TimeoutError, asyncio.IncompleteReadError, IndexError, ValueError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, ["0.0.0.0", "::"], port)
    async with server:
        print("ready", flush=True)
        await server.serve_forever()


if __name__ == "__main__":
    with open(sys.argv[3], "a", buffering=1) as log_file:
        asyncio.run(serve(sys.argv[1], int(sys.argv[2]), log_file, sys.argv[4:]))
