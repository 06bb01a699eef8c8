"""VRRP advertisement codec: VRRPv2 (RFC 3768) and VRRPv3 (RFC 5798, RFC 9568), IPv4 and IPv6.

Rules:
- Pure: bytes in, values out. No sockets, no clock, no logging, no instance state.
- ``encode`` builds the VRRP message (what follows the IP header) with its checksum.
- ``parse`` checks only what the bytes say on their own (format, length, checksum). What the
  local instance expects (TTL, VRID, version, authentication, interval, addresses) is checked
  in ``pykeepalived.vrrp.receive``, whose ``decode`` is the receive path's single call.
- Bytes from the network can only raise ``VrrpPacketError``, whose ``reason`` is a stable slug
  (a ``Reason``) fit for a counter label. Wrong arguments from our own code raise ``ValueError``:
  a local bug stays loud.
- Not here: which instance a VRID belongs to, unicast peer lists and their TTL ranges, IPsec AH,
  and RFC 5798 7.1's "discard if we own the address" (instance state). RFC 5798 5.2.9 wants
  an IPv6 advert's first address to be link-local; keepalived 2.2.7 does not send it so (only
  warns; see the golden v3_ipv6), so it is not enforced on receipt.

Wire layout (bit ruler on top; each row is 32 bits, network byte order)::

    RFC 3768 section 5.1 "VRRP Packet Format" (VRRPv2, IPv4 only)
     0                   1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-------+-------+---------------+---------------+---------------+
    |Version| Type  | Virtual Rtr ID|   Priority    | Count IP Addrs|
    +-------+-------+---------------+---------------+---------------+
    |   Auth Type   |   Adver Int   |           Checksum            |
    +---------------+---------------+-------------------------------+
    |                     IPv4 Address (1 .. Count)                 |
    +---------------------------------------------------------------+
    |                  Authentication Data (8 octets)               |
    +---------------------------------------------------------------+

    RFC 5798 / RFC 9568 section 5.1 "VRRP Packet Format" (VRRPv3, IPv4 or IPv6)
     0                   1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-------+-------+---------------+---------------+---------------+
    |Version| Type  | Virtual Rtr ID|   Priority    |Count IPvX Addr|
    +-------+-------+---------------+---------------+---------------+
    |(rsvd) |     Max Adver Int     |           Checksum            |
    +-------+-----------------------+-------------------------------+
    |            IPvX Address (1 .. Count), 4 or 16 octets each     |
    +---------------------------------------------------------------+

Version 2 or 3, Type 1 (Advertisement). VRID 1-255. Priority 255 = address owner, 0 = the
master resigns. v2 Adver Int is whole seconds; v3 Max Adver Int is 12 bits of centiseconds
(the 4 reserved bits are sent as zero and ignored on receipt). Both are held here in
centiseconds (``advert_int_cs``) so the state machine has one unit.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address
from typing import Final

from pykeepalived.errors import RemoteProtocolError

IPAddress = IPv4Address | IPv6Address

IPPROTO_VRRP: Final = 112
IPPROTO_AH: Final = 51
VRRP_TTL: Final = 255  # RFC 3768 5.2.3, RFC 5798 5.1.1.3 / 5.1.2.3: sent and required as 255
TYPE_ADVERTISEMENT: Final = 1
HEADER_LEN: Final = 8
AUTH_DATA_LEN: Final = 8
V3_INTERVAL_MASK: Final = 0x0FFF
_HEADER = struct.Struct("!BBBBHH")  # vers_type, vrid, priority, count, v2 auth+int|v3 int, csum


class Family(enum.IntEnum):
    """Address family of the carrying IP packet, hence of every address in the advert."""

    IPV4 = 4
    IPV6 = 6

    @property
    def address_len(self) -> int:
        return 4 if self is Family.IPV4 else 16


class AuthType(enum.IntEnum):
    """RFC 2338 / 3768 section 5.3.6 Auth Type (VRRPv2 only; RFC 3768 keeps only 0 on paper)."""

    NONE = 0
    PASS = 1  # keepalived's auth_type PASS: 8 octets of clear text, NUL padded
    AH = 2  # IPsec AH: the VRRP message rides behind an AH header; not supported here


class Reason(enum.StrEnum):
    """Why an advert was refused; the value is the counter label and never changes."""

    LENGTH = "length"  # too short, or length disagrees with the address count
    VERSION = "version"  # not 2 or 3, VRRPv2 over IPv6, or not the local version
    TYPE = "type"  # not an Advertisement
    CHECKSUM = "checksum"
    VRID = "vrid"  # VRID 0, or not one this receiver serves
    AUTH_TYPE = "auth_type"  # unknown, IPsec AH, or not the local auth type
    AUTH = "auth"  # password mismatch
    INTERVAL = "interval"  # zero, or (v2) not the local advert_int
    TTL = "ttl"  # multicast advert whose TTL / hop limit is not 255
    ADDR_COUNT = "addr_count"  # count differs from the local virtual_ipaddress list
    ADDR_LIST = "addr_list"  # a local virtual address is missing from the advert
    FAMILY = "family"  # address family differs from the local one
    DESTINATION = "destination"  # multicast where unicast is configured, or the reverse
    IP_HEADER = "ip_header"  # the carrying IP header is malformed or not VRRP


class VrrpPacketError(RemoteProtocolError):
    """A received VRRP packet was refused; ``reason`` is a ``Reason`` slug."""

    def __init__(self, reason: Reason, detail: str = "") -> None:
        super().__init__(reason.value, detail)
        self.reason = reason


def pass_auth_data(password: str | bytes) -> bytes:
    """keepalived's ``auth_pass``: the first 8 octets, NUL padded (longer ones are truncated)."""
    raw = password.encode() if isinstance(password, str) else password
    return raw[:AUTH_DATA_LEN].ljust(AUTH_DATA_LEN, b"\0")


@dataclass(frozen=True, slots=True, kw_only=True)
class Advert:
    """One VRRP advertisement, version-neutral.

    ``advert_int_cs`` is in centiseconds for both versions (v2 sends whole seconds, so it must
    be a multiple of 100 there). ``auth_type``/``auth_data`` exist only in v2, where
    ``auth_data`` is the 8 octets on the wire (``pass_auth_data`` builds them from a
    password); an empty ``auth_data`` in v2 means eight zero octets.
    """

    version: int
    vrid: int
    priority: int
    advert_int_cs: int
    family: Family
    addresses: tuple[IPAddress, ...] = ()
    auth_type: AuthType = AuthType.NONE
    auth_data: bytes = field(default=b"", repr=False)

    def __post_init__(self) -> None:
        if self.version == 2 and not self.auth_data:
            object.__setattr__(self, "auth_data", bytes(AUTH_DATA_LEN))
        problem = _advert_problem(self)
        if problem:
            raise ValueError(f"invalid VRRP advert: {problem}")

    @property
    def advert_int_s(self) -> float:
        """The interval in seconds, for logs and timers."""
        return self.advert_int_cs / 100


def _advert_problem(a: Advert) -> str:
    """What is wrong with an advert built by our own code, or '' if nothing."""
    if a.version not in (2, 3):
        return f"version {a.version}"
    if not 1 <= a.vrid <= 255 or not 0 <= a.priority <= 255:
        return f"vrid {a.vrid} / priority {a.priority} out of range"
    if len(a.addresses) > 255:
        return "more than 255 addresses"
    if any(addr.version != a.family for addr in a.addresses):
        return f"address of another family than IPv{a.family}"
    if a.version == 3:
        if a.auth_type is not AuthType.NONE or a.auth_data:
            return "VRRPv3 has no authentication"
        if not 1 <= a.advert_int_cs <= V3_INTERVAL_MASK:
            return f"v3 interval {a.advert_int_cs} cs not in 1..4095"
        return ""
    if a.family is not Family.IPV4:
        return "VRRPv2 is IPv4 only"
    if a.auth_type not in (AuthType.NONE, AuthType.PASS) or len(a.auth_data) != AUTH_DATA_LEN:
        return "v2 needs auth type NONE or PASS and 8 octets of auth data"
    if a.advert_int_cs % 100 or not 100 <= a.advert_int_cs <= 255 * 100:
        return f"v2 interval {a.advert_int_cs} cs is not 1..255 whole seconds"
    return ""


# --- Checksums: RFC 3768 5.3.8, RFC 5798 5.2.8 (RFC 1071 arithmetic) -------------------------


def internet_checksum(data: bytes) -> int:
    """RFC 1071 one's complement of the one's complement sum of 16-bit words."""
    if len(data) % 2:
        data += b"\0"
    words: tuple[int, ...] = struct.unpack(f"!{len(data) // 2}H", data)
    total = sum(words)
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _pseudo_header(src: IPAddress, dst: IPAddress, length: int) -> bytes:
    """IPv4 (RFC 768 style) or IPv6 (RFC 8200 8.1) pseudo-header with next header 112."""
    if isinstance(src, IPv4Address) and isinstance(dst, IPv4Address):
        return src.packed + dst.packed + struct.pack("!BBH", 0, IPPROTO_VRRP, length)
    if isinstance(src, IPv6Address) and isinstance(dst, IPv6Address):
        return src.packed + dst.packed + struct.pack("!I3xB", length, IPPROTO_VRRP)
    raise ValueError(f"source {src} and destination {dst} are not of one address family")


def compute_checksum(
    message: bytes,
    *,
    src: IPAddress | None = None,
    dst: IPAddress | None = None,
    v3_checksum_as_v2: bool = False,
) -> int:
    """Checksum of a VRRP ``message`` whose checksum field (octets 6-7) is taken as zero.

    v2 sums the message alone. v3 adds the pseudo-header of ``src``/``dst`` (the carrying IP
    packet's addresses; keepalived's old unicast compatibility mode used 224.0.0.18 as ``dst``).
    ``v3_checksum_as_v2`` is keepalived's option of that name (2.2.8 and later): v3 over IPv4
    without the pseudo-header, as Cisco and Juniper read RFC 5798 and as RFC 9568 5.2.8 now
    states it ("For IPv4, the checksum calculation only includes the VRRP message"). Most
    open-source peers, keepalived's default included, still add the pseudo-header, which is
    why it stays our default. It never applies to IPv6.
    """
    if len(message) < HEADER_LEN:
        raise ValueError(f"a VRRP message has at least {HEADER_LEN} octets, not {len(message)}")
    zeroed = message[:6] + b"\0\0" + message[8:]
    if message[0] >> 4 != 3 or (v3_checksum_as_v2 and isinstance(src, IPv4Address)):
        return internet_checksum(zeroed)
    if src is None or dst is None:
        raise ValueError("a VRRPv3 checksum needs the source and destination addresses")
    return internet_checksum(_pseudo_header(src, dst, len(message)) + zeroed)


# --- Encoding -----------------------------------------------------------------------------------


def encode(
    advert: Advert,
    *,
    src: IPAddress | None = None,
    dst: IPAddress | None = None,
    v3_checksum_as_v2: bool = False,
) -> bytes:
    """The VRRP message for ``advert``, checksum included; ``src``/``dst`` are needed for v3."""
    if advert.version == 2:
        word = advert.auth_type << 8 | advert.advert_int_cs // 100
    else:
        word = advert.advert_int_cs  # the 4 reserved bits stay zero
    head = _HEADER.pack(
        advert.version << 4 | TYPE_ADVERTISEMENT,
        advert.vrid,
        advert.priority,
        len(advert.addresses),
        word,
        0,
    )
    message = head + b"".join(a.packed for a in advert.addresses) + advert.auth_data
    if advert.version == 3 and (src is None or dst is None):
        raise ValueError("encoding VRRPv3 needs the source and destination addresses")
    csum = compute_checksum(message, src=src, dst=dst, v3_checksum_as_v2=v3_checksum_as_v2)
    return message[:6] + csum.to_bytes(2, "big") + message[8:]


# --- Parsing: what the bytes say on their own ---------------------------------------------------


def parse(
    message: bytes,
    *,
    src: IPAddress,
    dst: IPAddress,
    v3_checksum_as_v2: bool = False,
) -> Advert:
    """The advert in a received VRRP ``message``, or ``VrrpPacketError``.

    The family is that of ``src``/``dst`` (the carrying packet's). Checks, in this order, so
    that garbage is reported as the first thing that betrays it: length, version, type,
    exact length, checksum, VRID, auth type (v2), interval. With ``v3_checksum_as_v2`` an IPv4
    v3 checksum is accepted with or without the pseudo-header (keepalived skips the check
    entirely in that mode; we still catch corruption and talk to peers of either kind).
    """
    family = Family(src.version)
    if dst.version != src.version:
        raise ValueError(f"source {src} and destination {dst} are not of one address family")
    if len(message) < HEADER_LEN:
        raise VrrpPacketError(Reason.LENGTH, f"{len(message)} octets, shorter than a header")
    vers_type, vrid, priority, count, word, _ = _HEADER.unpack_from(message)
    version = vers_type >> 4
    _check_version_and_type(version, vers_type & 0x0F, family)
    _check_length(message, version, count, family)
    _check_checksum(message, src, dst, v3_checksum_as_v2)
    if vrid == 0:
        raise VrrpPacketError(Reason.VRID, "VRID 0 is reserved")
    auth_type = AuthType.NONE
    if version == 2:
        auth_type = _v2_auth_type(word >> 8)
        interval_cs = (word & 0xFF) * 100
    else:
        interval_cs = word & V3_INTERVAL_MASK
    if interval_cs == 0:
        raise VrrpPacketError(Reason.INTERVAL, "advertisement interval 0")
    return Advert(
        version=version,
        vrid=vrid,
        priority=priority,
        advert_int_cs=interval_cs,
        family=family,
        addresses=_addresses(message, count, family),
        auth_type=auth_type,
        auth_data=message[-AUTH_DATA_LEN:] if version == 2 else b"",
    )


def _check_version_and_type(version: int, packet_type: int, family: Family) -> None:
    """RFC 5798 5.2.1 / 5.2.2: versions 2 and 3 exist, only type 1 (Advertisement)."""
    if version not in (2, 3):
        raise VrrpPacketError(Reason.VERSION, f"version {version}")
    if version == 2 and family is Family.IPV6:
        raise VrrpPacketError(Reason.VERSION, "VRRPv2 over IPv6")
    if packet_type != TYPE_ADVERTISEMENT:
        raise VrrpPacketError(Reason.TYPE, f"type {packet_type}")


def _check_length(message: bytes, version: int, count: int, family: Family) -> None:
    """The message must be exactly header + addresses (+ v2 auth data), as keepalived wants."""
    expected = HEADER_LEN + count * family.address_len + (AUTH_DATA_LEN if version == 2 else 0)
    if len(message) != expected:
        raise VrrpPacketError(
            Reason.LENGTH, f"{len(message)} octets, {count} addresses need {expected}"
        )


def _check_checksum(
    message: bytes, src: IPAddress, dst: IPAddress, v3_checksum_as_v2: bool
) -> None:
    got = int.from_bytes(message[6:8], "big")
    want = compute_checksum(message, src=src, dst=dst)
    if got == want:
        return
    as_v2 = v3_checksum_as_v2 and isinstance(src, IPv4Address)  # never for IPv6
    if as_v2 and got == compute_checksum(message, src=src, dst=dst, v3_checksum_as_v2=True):
        return
    raise VrrpPacketError(Reason.CHECKSUM, f"checksum {got:#06x}, expected {want:#06x}")


def _v2_auth_type(value: int) -> AuthType:
    """RFC 2338 5.3.6: 0 none, 1 simple text password, 2 IPsec AH; nothing else exists."""
    if value == AuthType.AH:
        raise VrrpPacketError(Reason.AUTH_TYPE, "IPsec AH authentication is not supported")
    if value not in (AuthType.NONE, AuthType.PASS):
        raise VrrpPacketError(Reason.AUTH_TYPE, f"unknown auth type {value}")
    return AuthType(value)


def _addresses(message: bytes, count: int, family: Family) -> tuple[IPAddress, ...]:
    size = family.address_len
    chunks = (message[HEADER_LEN + i * size : HEADER_LEN + (i + 1) * size] for i in range(count))
    if family is Family.IPV4:
        return tuple(IPv4Address(c) for c in chunks)
    return tuple(IPv6Address(c) for c in chunks)
