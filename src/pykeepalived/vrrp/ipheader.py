"""The IP packet around a VRRP message, as raw sockets and captures deliver it.

Rules: pure, like ``packet``; only the fields the VRRP checks need (addresses, TTL / hop limit,
payload). An IPv4 raw socket for protocol 112 returns the IPv4 header too (RFC 791 3.1); an
IPv6 raw socket returns only the payload, with hop limit and destination as ancillary data, so
``split_ipv6`` serves captures and packet sockets. Refusals are ``VrrpPacketError``.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address

from pykeepalived.vrrp.packet import (
    IPPROTO_AH,
    IPPROTO_VRRP,
    Advert,
    IPAddress,
    Reason,
    VrrpPacketError,
)
from pykeepalived.vrrp.receive import Expected, decode


@dataclass(frozen=True, slots=True, kw_only=True)
class Datagram:
    """The parts of a received IP packet the VRRP checks need."""

    src: IPAddress
    dst: IPAddress
    ttl: int  # IPv4 TTL or IPv6 hop limit
    payload: bytes


def split_ipv4(packet: bytes) -> Datagram:
    """An IPv4 packet as an IPv4 raw socket delivers it (header included, RFC 791 3.1).

    The kernel has already checked the header checksum and reassembled fragments; we check
    what the VRRP rules depend on. IPsec AH (protocol 51) is refused as ``auth_type``.
    """
    if len(packet) < 20 or packet[0] >> 4 != 4:
        raise VrrpPacketError(Reason.IP_HEADER, "not an IPv4 header")
    header_len = (packet[0] & 0x0F) * 4
    total_len = int.from_bytes(packet[2:4], "big")
    if header_len < 20 or total_len != len(packet) or header_len > total_len:
        raise VrrpPacketError(
            Reason.LENGTH, f"IPv4 header {header_len}, total {total_len}, got {len(packet)}"
        )
    if packet[9] == IPPROTO_AH:
        raise VrrpPacketError(Reason.AUTH_TYPE, "IPsec AH authentication is not supported")
    if packet[9] != IPPROTO_VRRP:
        raise VrrpPacketError(Reason.IP_HEADER, f"IP protocol {packet[9]}")
    return Datagram(
        src=IPv4Address(packet[12:16]),
        dst=IPv4Address(packet[16:20]),
        ttl=packet[8],
        payload=packet[header_len:],
    )


def split_ipv6(packet: bytes) -> Datagram:
    """An IPv6 packet with VRRP right after the fixed header (RFC 8200 3), as on the wire.

    IPv6 raw sockets deliver only the payload (hop limit and destination come as ancillary
    data); this serves captures and packet sockets. Extension headers are refused.
    """
    if len(packet) < 40 or packet[0] >> 4 != 6:
        raise VrrpPacketError(Reason.IP_HEADER, "not an IPv6 header")
    if int.from_bytes(packet[4:6], "big") != len(packet) - 40:
        raise VrrpPacketError(Reason.LENGTH, "IPv6 payload length disagrees with the packet")
    if packet[6] != IPPROTO_VRRP:
        raise VrrpPacketError(Reason.IP_HEADER, f"next header {packet[6]}")
    return Datagram(
        src=IPv6Address(packet[8:24]),
        dst=IPv6Address(packet[24:40]),
        ttl=packet[7],
        payload=packet[40:],
    )


def decode_ipv4(packet: bytes, expected: Expected) -> Advert:
    """``decode`` for what an IPv4 raw socket (protocol 112) returns from ``recv``."""
    datagram = split_ipv4(packet)
    return decode(datagram.payload, expected, src=datagram.src, dst=datagram.dst, ttl=datagram.ttl)
