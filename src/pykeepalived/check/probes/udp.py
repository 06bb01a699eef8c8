"""UDP_CHECK: send a datagram; no ICMP error (or, with require_reply, a matching reply) is ok.

Rules (keepalived ``check_udp.c``, ``layer4.c``): the socket is connected, so an ICMP port or
host unreachable arrives as an error on receive: failure. Silence until the timeout is success
unless ``require_reply`` is set. With ``require_reply`` the reply's length must lie in
[min_reply_length, max_reply_length] and it must match ``reply_data`` over the shorter of the
two lengths, ignoring the bits set in ``reply_mask`` (the man page's ``X`` nibbles).
"""

import asyncio
import os
import socket
from dataclasses import dataclass

from pykeepalived.check.probes.common import ProbeTarget, describe_os_error, make_socket
from pykeepalived.check.result import ProbeResult


def parse_hex_str(text: str) -> tuple[bytes, bytes]:
    """keepalived's free HEX_STR: ``"Ab12f 3 x4"`` -> data AB 12 0F 03 04, mask of X nibbles.

    Each word is read two digits at a time; an odd last digit is a byte of its own.
    """
    data, mask = bytearray(), bytearray()
    for word in text.split():
        for i in range(0, len(word), 2):
            pair = word[i : i + 2].rjust(2, "0")
            data.append(int(pair.replace("x", "0").replace("X", "0"), 16))
            mask.append((0xF0 if pair[0] in "xX" else 0) | (0x0F if pair[1] in "xX" else 0))
    return bytes(data), bytes(mask)


@dataclass(frozen=True, slots=True, kw_only=True)
class UdpParams:
    payload: bytes | None = None
    require_reply: bool = False
    reply_data: bytes = b""
    reply_mask: bytes = b""
    min_reply_length: int = 0
    max_reply_length: int = 255

    def __post_init__(self) -> None:
        if self.reply_mask and len(self.reply_mask) != len(self.reply_data):
            raise ValueError("reply_mask must be as long as reply_data")
        if not 0 <= self.min_reply_length <= 65535 or not 0 <= self.max_reply_length <= 65535:
            raise ValueError("reply lengths out of range")


def reply_matches(params: UdpParams, data: bytes) -> bool:
    if not params.min_reply_length <= len(data) <= params.max_reply_length:
        return False
    mask = params.reply_mask or bytes(len(params.reply_data))
    for got, want, ignore in zip(data, params.reply_data, mask, strict=False):
        if (got ^ want) & ~ignore & 0xFF:
            return False
    return True


async def probe(target: ProbeTarget, params: UdpParams) -> ProbeResult:
    """Not ``guarded``: here the timeout is a verdict (success without require_reply)."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    payload = params.payload if params.payload is not None else os.urandom(8)
    try:
        with make_socket(target, socket.SOCK_DGRAM) as sock:
            await loop.sock_connect(sock, target.sockaddr())
            await loop.sock_sendall(sock, payload)
            async with asyncio.timeout(target.connect_timeout_s):
                data = await loop.sock_recv(sock, params.max_reply_length + 1)
    except TimeoutError:
        ok = not params.require_reply
        reason = "no reply" if params.require_reply else "no ICMP error"
        return ProbeResult(ok=ok, reason=reason, latency_s=loop.time() - start)
    except OSError as exc:
        return ProbeResult(ok=False, reason=describe_os_error(exc), latency_s=loop.time() - start)
    ok = not params.require_reply or reply_matches(params, data)
    reason = "reply" if ok else f"reply mismatch ({len(data)} bytes)"
    return ProbeResult(ok=ok, reason=reason, latency_s=loop.time() - start)
