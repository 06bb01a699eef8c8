"""Netlink framing shared by the few requests we build by hand (rtaddr, rtquery, vip_firewall).

Why by hand at all: those three sit on VRRP's start or takeover path, where importing and
driving pyroute2 cost 0.5-4 ms per request on a loaded machine and ~1 s of imports under the
IPVS VM's emulation (docs/benchmarks.md); everything else goes through pyroute2.

Framing (include/uapi/linux/netlink.h)::

    nlmsghdr: len u32 | type u16 | flags u16 | seq u32 | pid u32, then the payload
    rtattr / nlattr: len u16 | type u16 | value, padded to 4 bytes
    NLMSG_ERROR payload: error i32 (0 = ack, -errno), then the request's header
"""

import socket
import struct
from collections.abc import Iterator

NLMSG_ERROR, NLMSG_DONE = 2, 3
HEADER = struct.Struct("=IHHII")


def attr(kind: int, value: bytes) -> bytes:
    """One attribute, padded to the 4-byte boundary the kernel expects."""
    raw = struct.pack("=HH", 4 + len(value), kind) + value
    return raw + b"\0" * (-len(raw) % 4)


def message(kind: int, flags: int, seq: int, payload: bytes) -> bytes:
    """A whole netlink message: header (pid 0: the kernel fills it in) and payload."""
    return HEADER.pack(HEADER.size + len(payload), kind, flags, seq, 0) + payload


def messages(data: bytes) -> Iterator[tuple[int, int, int, int]]:
    """(type, seq, payload offset, payload end) of each message in one received buffer."""
    offset = 0
    while offset + HEADER.size <= len(data):
        length, kind, _, seq, _ = HEADER.unpack_from(data, offset)
        if length < HEADER.size:
            return
        yield kind, seq, offset + HEADER.size, min(offset + length, len(data))
        offset += (length + 3) & ~3


def error_code(data: bytes, offset: int) -> int:
    """The positive errno of an NLMSG_ERROR payload at ``offset`` (0: a plain ack)."""
    return -int(struct.unpack_from("=i", data, offset)[0])


def wait_ack(sock: socket.socket, seq: int) -> int:
    """Read until the NLMSG_ERROR answering ``seq`` arrives; its errno (0: done). Other
    messages (earlier answers, notifications) are skipped; the socket's timeout bounds it."""
    while True:
        data = sock.recv(1 << 16)
        for kind, got, offset, _ in messages(data):
            if kind == NLMSG_ERROR and got == seq:
                return error_code(data, offset)
