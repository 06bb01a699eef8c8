"""Receiving VRRP adverts: RFC 3768 / RFC 5798 / RFC 9568 section 7.1 "Receiving VRRP Packets".

Rules: pure, like ``packet``. ``Expected`` is what one local instance (or the instances sharing
a socket) will accept; ``validate`` holds an already parsed ``Advert`` against it; ``decode`` is
``packet.parse`` then ``validate``, the one call of the receive path. Refusals are
``VrrpPacketError`` with a ``Reason``; a malformed ``Expected`` is our bug (``ValueError``).
Not here: which instance a VRID maps to, unicast peer lists and their TTL ranges, and
"discard if we own the address" (instance state).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field

from pykeepalived.vrrp.packet import (
    AUTH_DATA_LEN,
    VRRP_TTL,
    Advert,
    AuthType,
    Family,
    IPAddress,
    Reason,
    VrrpPacketError,
    parse,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Expected:
    """What a local VRRP instance accepts (built from its vrrp_instance configuration).

    ``vrids``: the VRIDs served on this socket. ``auth_data``: the 8 octets for PASS (see
    ``pass_auth_data``). ``advert_int_cs``: v2 adverts must carry exactly this interval
    (RFC 3768 7.1); v3 adverts may differ (the backup adopts the master's, RFC 5798 6.4.2).
    ``addresses``: when given, the advert must list the same number and include each one
    (keepalived checks this on a new master's adverts unless skip_check_adv_addr).
    ``unicast``: with unicast peers the TTL is not required to be 255 and the destination
    must not be multicast; without, TTL 255 and a multicast destination are required.
    """

    family: Family
    version: int
    vrids: frozenset[int]
    advert_int_cs: int
    auth_type: AuthType = AuthType.NONE
    auth_data: bytes = field(default=b"", repr=False)
    addresses: tuple[IPAddress, ...] | None = None
    unicast: bool = False
    v3_checksum_as_v2: bool = False

    def __post_init__(self) -> None:
        if self.version not in (2, 3) or (self.version == 2 and self.family is not Family.IPV4):
            raise ValueError(f"no VRRPv{self.version} over IPv{self.family}")
        if not self.vrids or not all(1 <= v <= 255 for v in self.vrids):
            raise ValueError(f"VRIDs {sorted(self.vrids)} are not a non-empty subset of 1..255")
        if self.auth_type is AuthType.PASS and len(self.auth_data) != AUTH_DATA_LEN:
            raise ValueError("auth PASS needs the 8 octets of pass_auth_data(auth_pass)")
        if self.auth_type is AuthType.AH:
            raise ValueError("IPsec AH authentication is not supported")


def validate(advert: Advert, expected: Expected, *, dst: IPAddress, ttl: int | None) -> None:
    """Refuse ``advert`` if the local instance must not act on it; ``ttl`` None = unknown."""
    if advert.family is not expected.family:
        raise VrrpPacketError(
            Reason.FAMILY, f"IPv{advert.family} advert, IPv{expected.family} here"
        )
    if not expected.unicast and ttl is not None and ttl != VRRP_TTL:
        raise VrrpPacketError(Reason.TTL, f"TTL/hop limit {ttl}, expected {VRRP_TTL}")
    if advert.version != expected.version:
        raise VrrpPacketError(Reason.VERSION, f"version {advert.version}, {expected.version} here")
    if advert.vrid not in expected.vrids:
        raise VrrpPacketError(Reason.VRID, f"VRID {advert.vrid} is not served here")
    if advert.version == 2:
        _validate_v2(advert, expected)
    if expected.addresses is not None:
        _validate_addresses(advert.addresses, expected.addresses)
    if dst.is_multicast == expected.unicast:
        wanted = "unicast" if expected.unicast else "multicast"
        raise VrrpPacketError(Reason.DESTINATION, f"destination {dst} is not {wanted}")


def _validate_v2(advert: Advert, expected: Expected) -> None:
    """RFC 3768 7.1: authenticate as configured, and the interval must be ours."""
    if advert.auth_type is not expected.auth_type:
        raise VrrpPacketError(
            Reason.AUTH_TYPE, f"auth type {advert.auth_type.name}, {expected.auth_type.name} here"
        )
    if advert.auth_type is AuthType.PASS and not hmac.compare_digest(
        advert.auth_data, expected.auth_data
    ):
        raise VrrpPacketError(Reason.AUTH, "password mismatch")
    if advert.advert_int_cs != expected.advert_int_cs:
        raise VrrpPacketError(
            Reason.INTERVAL,
            f"interval {advert.advert_int_s:g}s, {expected.advert_int_cs / 100:g}s here",
        )


def _validate_addresses(got: tuple[IPAddress, ...], want: tuple[IPAddress, ...]) -> None:
    if len(got) != len(want):
        raise VrrpPacketError(Reason.ADDR_COUNT, f"{len(got)} addresses, {len(want)} here")
    missing = set(want) - set(got)
    if missing:
        raise VrrpPacketError(Reason.ADDR_LIST, f"missing {', '.join(map(str, sorted(missing)))}")


def decode(
    message: bytes,
    expected: Expected,
    *,
    src: IPAddress,
    dst: IPAddress,
    ttl: int | None,
) -> Advert:
    """``parse`` then ``validate``: the one call of the receive path."""
    if src.version != expected.family or dst.version != expected.family:
        raise VrrpPacketError(Reason.FAMILY, f"IPv{src.version} packet, IPv{expected.family} here")
    advert = parse(message, src=src, dst=dst, v3_checksum_as_v2=expected.v3_checksum_as_v2)
    validate(advert, expected, dst=dst, ttl=ttl)
    return advert
