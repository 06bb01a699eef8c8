"""PING_CHECK: one ICMP (v4) or ICMPv6 echo answered within the timeout.

Rules: prefer the unprivileged datagram ICMP socket (``net.ipv4.ping_group_range``), fall back
to a raw socket (root). Replies are matched by type, sequence and a random token in the
payload, so neither the kernel's rewrite of the id (datagram sockets) nor other pings on the
host (raw sockets see every ICMP packet) can fool it.
"""

import asyncio
import os
import socket
import struct
from dataclasses import dataclass

from pykeepalived.check.probes.common import ProbeTarget, guarded, make_socket
from pykeepalived.check.result import ProbeResult

_ECHO_REQUEST = {socket.AF_INET: 8, socket.AF_INET6: 128}
_ECHO_REPLY = {socket.AF_INET: 0, socket.AF_INET6: 129}
_PROTO = {socket.AF_INET: socket.IPPROTO_ICMP, socket.AF_INET6: socket.IPPROTO_ICMPV6}


@dataclass(frozen=True, slots=True, kw_only=True)
class PingParams:
    """PING_CHECK has no options beyond the common ones."""


def checksum(data: bytes) -> int:
    """RFC 1071 internet checksum."""
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def echo_request(family: socket.AddressFamily, ident: int, seq: int, token: bytes) -> bytes:
    """Echo request; the ICMPv6 checksum is left to the kernel (it covers a pseudo-header)."""
    kind = _ECHO_REQUEST[family]
    bare = struct.pack("!BBHHH", kind, 0, 0, ident, seq) + token
    if family == socket.AF_INET6:
        return bare
    return bare[:2] + struct.pack("!H", checksum(bare)) + bare[4:]


def is_our_reply(
    family: socket.AddressFamily, raw: bool, packet: bytes, seq: int, token: bytes
) -> bool:
    if raw and family == socket.AF_INET and packet:
        packet = packet[(packet[0] & 0x0F) * 4 :]  # raw IPv4 sockets hand us the IP header
    if len(packet) < 8 + len(token):
        return False
    kind, _, _, _, got_seq = struct.unpack_from("!BBHHH", packet)
    return kind == _ECHO_REPLY[family] and got_seq == seq and packet[8:].startswith(token)


def _open(target: ProbeTarget) -> tuple[socket.socket, bool]:
    proto = _PROTO[target.family]
    try:
        return make_socket(target, socket.SOCK_DGRAM, proto), False
    except PermissionError:
        return make_socket(target, socket.SOCK_RAW, proto), True


async def probe(target: ProbeTarget, params: PingParams | None = None) -> ProbeResult:
    del params
    return await guarded(target.connect_timeout_s, _ping(target))


async def _ping(target: ProbeTarget) -> ProbeResult:
    loop = asyncio.get_running_loop()
    token = os.urandom(16)
    ident, seq = int.from_bytes(os.urandom(2), "big"), int.from_bytes(os.urandom(2), "big")
    sock, raw = _open(target)
    with sock:
        sock.connect(target.sockaddr(0))  # datagram/raw connect: immediate, no I/O
        await loop.sock_sendall(sock, echo_request(target.family, ident, seq, token))
        while True:  # bounded by guarded()'s timeout
            packet = await loop.sock_recv(sock, 1500)
            if is_our_reply(target.family, raw, packet, seq, token):
                return ProbeResult(ok=True, reason="echo reply")
