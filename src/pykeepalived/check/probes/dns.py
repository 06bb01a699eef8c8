"""DNS_CHECK: a UDP query (type, name) answered with a response of rcode NOERROR.

Rules: a tiny RFC 1035 query encoder of our own (no dependency). As keepalived
``check_dns.c``: recursion desired, a random id; replies with a foreign id, without the QR bit
or shorter than a header are ignored (we keep waiting, within the timeout); rcode != 0 fails.
Answer records are not inspected.
"""

import asyncio
import secrets
import socket
import struct
from dataclasses import dataclass

from pykeepalived.check.probes.common import ProbeTarget, guarded, make_socket
from pykeepalived.check.result import ProbeResult

DNS_TYPES = {
    "A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "MX": 15, "TXT": 16, "AAAA": 28, "RRSIG": 46,
    "DNSKEY": 48,
}  # fmt: skip
_HEADER = struct.Struct("!HHHHHH")
_FLAG_RD = 0x0100
_FLAG_QR = 0x8000
_BUFFER = 768  # keepalived's DNS_BUFFER_SIZE


@dataclass(frozen=True, slots=True, kw_only=True)
class DnsParams:
    """``type`` (default SOA) and ``name`` (default the root, ``.``)."""

    type: str = "SOA"
    name: str = "."

    def __post_init__(self) -> None:
        if self.type.upper() not in DNS_TYPES:
            raise ValueError(f"DNS type must be one of {sorted(DNS_TYPES)}")
        encode_name(self.name)  # validates


def encode_name(name: str) -> bytes:
    """``www.example.com`` -> length-prefixed labels; ``.`` or ``""`` is the root."""
    out = bytearray()
    for label in name.rstrip(".").split(".") if name.strip(".") else []:
        raw = label.encode("idna") if not label.isascii() else label.encode("ascii")
        if not 1 <= len(raw) <= 63:
            raise ValueError(f"bad DNS label in {name!r}")
        out += bytes([len(raw)]) + raw
    out.append(0)
    if len(out) > 255:
        raise ValueError("DNS name longer than 255 octets")
    return bytes(out)


def encode_query(query_id: int, params: DnsParams) -> bytes:
    header = _HEADER.pack(query_id, _FLAG_RD, 1, 0, 0, 0)
    question = encode_name(params.name) + struct.pack("!HH", DNS_TYPES[params.type.upper()], 1)
    return header + question


def judge_reply(query_id: int, data: bytes) -> ProbeResult | None:
    """None for a datagram to ignore, else the verdict."""
    if len(data) < _HEADER.size:
        return None
    reply_id, flags = struct.unpack_from("!HH", data)
    if reply_id != query_id or not flags & _FLAG_QR:
        return None
    rcode = flags & 0x000F
    if rcode:
        return ProbeResult(ok=False, reason=f"rcode {rcode}")
    return ProbeResult(ok=True, reason="NOERROR")


async def probe(target: ProbeTarget, params: DnsParams) -> ProbeResult:
    return await guarded(target.connect_timeout_s, _ask(target, params))


async def _ask(target: ProbeTarget, params: DnsParams) -> ProbeResult:
    loop = asyncio.get_running_loop()
    query_id = secrets.randbelow(1 << 16)
    with make_socket(target, socket.SOCK_DGRAM) as sock:
        await loop.sock_connect(sock, target.sockaddr())
        await loop.sock_sendall(sock, encode_query(query_id, params))
        while True:  # bounded by guarded()'s timeout
            verdict = judge_reply(query_id, await loop.sock_recv(sock, _BUFFER))
            if verdict is not None:
                return verdict
