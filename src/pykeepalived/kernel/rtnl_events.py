"""rtnetlink multicast notifications, read by hand: one socket per subscriber.

Why one place: the link, address and route watches read the same way (a raw NETLINK_ROUTE
socket bound to their groups, read by the event loop) and must treat the one error that
matters the same way: ENOBUFS means the kernel dropped notifications, so the reader has to
look at the state afresh rather than read on as if nothing was missed.
"""

import asyncio
import errno
import socket
from collections.abc import AsyncIterator

from pykeepalived.errors import KernelError


async def notifications(
    groups: int, what: str, *, from_start: bool = False
) -> AsyncIterator[tuple[socket.socket, bytes | None]]:
    """(socket, buffer) for each buffer the kernel sends to ``groups``; the buffer is None
    when notifications were lost and, with ``from_start``, once as soon as the socket listens
    (what happened before is not known either). Other errors raise ``KernelError``."""
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
    try:
        sock.setblocking(False)
        sock.bind((0, groups))
        if from_start:
            yield sock, None
        loop = asyncio.get_running_loop()
        while True:
            try:
                data: bytes | None = await loop.sock_recv(sock, 1 << 16)
            except OSError as exc:
                if exc.errno != errno.ENOBUFS:
                    raise KernelError(f"{what} notifications: {exc}") from exc
                data = None
            yield sock, data
    finally:
        sock.close()
