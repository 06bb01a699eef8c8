"""A tiny HTTP server for the namespace tests: answers its own address, logs each client.

Run inside a real-server namespace: ``python nsweb.py <own-ip> <port> <log-file>``; it
listens on IPv4 and IPv6. ``GET /`` answers the own (IPv4) address, whatever the family;
``GET /slow?n=30`` streams ``n`` lines (one per 0.1 s),
each the own address, so that a test holds a connection open while it changes the table.
Every connection appends ``<client-ip> <client-port> <path>`` to the log (flushed at once).
"""

import asyncio
import sys
from typing import TextIO

STEP_S = 0.1


async def serve(own: str, port: int, log: TextIO) -> None:
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
        asyncio.run(serve(sys.argv[1], int(sys.argv[2]), log_file))
