"""Every refusal has its reason slug; each test bends one golden advert in one way."""

from ipaddress import IPv4Address, IPv6Address

import pytest
from vrrp_golden import GOLDEN, Golden, patched, with_checksum

from pykeepalived.vrrp.ipheader import decode_ipv4, split_ipv4, split_ipv6
from pykeepalived.vrrp.packet import (
    Advert,
    AuthType,
    Family,
    Reason,
    VrrpPacketError,
    encode,
    pass_auth_data,
)
from pykeepalived.vrrp.receive import Expected, decode, validate

V2 = GOLDEN["v2_ipv4_pass"]
V3 = GOLDEN["v3_ipv4"]
V6 = GOLDEN["v3_ipv6"]


def refused(
    golden: Golden,
    message: bytes | None = None,
    expected: Expected | None = None,
    ttl: int | None = 255,
) -> Reason:
    """Why ``decode`` refuses ``message`` (default: the golden's own) under ``expected``."""
    d = golden.datagram
    with pytest.raises(VrrpPacketError) as info:
        decode(
            golden.payload if message is None else message,
            golden.expected() if expected is None else expected,
            src=d.src,
            dst=d.dst,
            ttl=ttl,
        )
    assert isinstance(info.value.reason, Reason)
    assert info.value.reason == str(info.value).split(":")[0]
    return info.value.reason


@pytest.mark.parametrize("golden", [V2, V3, V6], ids=lambda g: g.name)
@pytest.mark.parametrize("cut", [1, 4, 7, 8])
def test_truncated_is_length(golden: Golden, cut: int) -> None:
    assert refused(golden, golden.payload[:-cut]) is Reason.LENGTH


@pytest.mark.parametrize("golden", [V2, V3, V6], ids=lambda g: g.name)
def test_trailing_octets_are_length(golden: Golden) -> None:
    assert refused(golden, golden.payload + b"\0\0\0\0") is Reason.LENGTH


@pytest.mark.parametrize("golden", [V2, V3, V6], ids=lambda g: g.name)
def test_shorter_than_a_header_is_length(golden: Golden) -> None:
    assert refused(golden, b"") is Reason.LENGTH
    assert refused(golden, golden.payload[:7]) is Reason.LENGTH


@pytest.mark.parametrize("golden", [V2, V3, V6], ids=lambda g: g.name)
def test_address_count_disagreeing_with_length_is_length(golden: Golden) -> None:
    assert refused(golden, patched(golden, 3, golden.payload[3] + 1)) is Reason.LENGTH


@pytest.mark.parametrize("golden", [V2, V3, V6], ids=lambda g: g.name)
@pytest.mark.parametrize("bit", [0, 13, 47, 63])
def test_flipped_bit_is_checksum(golden: Golden, bit: int) -> None:
    message = bytearray(golden.payload)
    message[8 + bit // 8] ^= 1 << (bit % 8)  # inside the first address
    assert refused(golden, bytes(message)) is Reason.CHECKSUM


def test_v3_checksum_covers_the_pseudo_header() -> None:
    """The same message from another source address no longer adds up (RFC 5798 5.2.8)."""
    d = V3.datagram
    with pytest.raises(VrrpPacketError) as info:
        decode(V3.payload, V3.expected(), src=IPv4Address("192.168.88.2"), dst=d.dst, ttl=255)
    assert info.value.reason is Reason.CHECKSUM


@pytest.mark.parametrize("golden", [V2, V3, V6], ids=lambda g: g.name)
@pytest.mark.parametrize("version", [0, 1, 4, 15])
def test_unknown_version_is_version(golden: Golden, version: int) -> None:
    assert refused(golden, patched(golden, 0, version << 4 | 1)) is Reason.VERSION


def test_v2_over_ipv6_is_version() -> None:
    assert refused(V6, patched(V6, 0, 0x21)) is Reason.VERSION


def test_version_other_than_configured_is_version() -> None:
    assert refused(V3, expected=V3.expected(version=2)) is Reason.VERSION
    assert refused(V2, expected=V2.expected(version=3)) is Reason.VERSION


@pytest.mark.parametrize("golden", [V2, V3, V6], ids=lambda g: g.name)
@pytest.mark.parametrize("packet_type", [0, 2, 15])
def test_not_an_advertisement_is_type(golden: Golden, packet_type: int) -> None:
    version = golden.payload[0] >> 4
    assert refused(golden, patched(golden, 0, version << 4 | packet_type)) is Reason.TYPE


@pytest.mark.parametrize("golden", [V2, V3, V6], ids=lambda g: g.name)
def test_vrid_zero_is_vrid(golden: Golden) -> None:
    assert refused(golden, patched(golden, 1, 0)) is Reason.VRID


@pytest.mark.parametrize("golden", [V2, V3, V6], ids=lambda g: g.name)
def test_vrid_not_served_is_vrid(golden: Golden) -> None:
    assert refused(golden, expected=golden.expected(vrids=frozenset({1, 2}))) is Reason.VRID


def test_several_vrids_can_be_served() -> None:
    d = V3.datagram
    expected = V3.expected(vrids=frozenset({1, 51, 200}))
    assert decode(V3.payload, expected, src=d.src, dst=d.dst, ttl=255).vrid == 51


def test_wrong_password_is_auth() -> None:
    expected = V2.expected(auth_data=pass_auth_data("654321"))
    assert refused(V2, expected=expected) is Reason.AUTH


def test_password_compares_all_eight_octets() -> None:
    """keepalived compares the whole 8-octet field, so '123456' and '1234567' differ."""
    assert refused(V2, expected=V2.expected(auth_data=pass_auth_data("1234567"))) is Reason.AUTH


def test_password_longer_than_eight_is_truncated_like_keepalived() -> None:
    assert pass_auth_data("123456789") == b"12345678"
    assert pass_auth_data(b"ab") == b"ab\0\0\0\0\0\0"


def test_auth_type_not_configured_is_auth_type() -> None:
    expected = V2.expected(auth_type=AuthType.NONE, auth_data=b"")
    assert refused(V2, expected=expected) is Reason.AUTH_TYPE
    assert refused(V2, patched(V2, 4, AuthType.NONE)) is Reason.AUTH_TYPE


@pytest.mark.parametrize("auth_type", [2, 3, 255])
def test_ah_and_unknown_auth_types_are_auth_type(auth_type: int) -> None:
    """Auth type 2 is IPsec AH (RFC 2338), which keepalived alone speaks: flagged, never parsed."""
    d = V2.datagram
    with pytest.raises(VrrpPacketError, match="AH" if auth_type == 2 else "unknown") as info:
        decode(patched(V2, 4, auth_type), V2.expected(), src=d.src, dst=d.dst, ttl=255)
    assert info.value.reason is Reason.AUTH_TYPE


def test_ah_protocol_in_the_ip_header_is_auth_type() -> None:
    packet = bytearray(V2.packet)
    packet[9] = 51
    with pytest.raises(VrrpPacketError) as info:
        split_ipv4(bytes(packet))
    assert info.value.reason is Reason.AUTH_TYPE


def test_v2_interval_other_than_configured_is_interval() -> None:
    """RFC 3768 7.1: a v2 advert with another Adver Int is dropped."""
    assert refused(V2, expected=V2.expected(advert_int_cs=200)) is Reason.INTERVAL


def test_v3_interval_other_than_configured_is_accepted() -> None:
    """RFC 5798 6.4.2: a v3 backup adopts the master's interval, so it is no reason to refuse."""
    d = V3.datagram
    advert = decode(V3.payload, V3.expected(advert_int_cs=100), src=d.src, dst=d.dst, ttl=255)
    assert advert.advert_int_cs == 5


@pytest.mark.parametrize("golden", [V2, V3, V6], ids=lambda g: g.name)
def test_zero_interval_is_interval(golden: Golden) -> None:
    message = bytearray(golden.payload)
    message[5] = 0
    if golden.payload[0] >> 4 == 3:
        message[4] &= 0xF0
    assert refused(golden, with_checksum(bytes(message), *_addrs(golden))) is Reason.INTERVAL


def test_v3_reserved_bits_are_ignored() -> None:
    """RFC 5798 5.2.6: rsvd MUST be zero when sent and is ignored when received."""
    d = V3.datagram
    message = patched(V3, 4, 0xF0)
    advert = decode(message, V3.expected(), src=d.src, dst=d.dst, ttl=255)
    assert advert.advert_int_cs == 5
    assert encode(advert, src=d.src, dst=d.dst) == V3.payload


@pytest.mark.parametrize("golden", [V2, V3, V6], ids=lambda g: g.name)
@pytest.mark.parametrize("ttl", [0, 1, 64, 254])
def test_multicast_ttl_below_255_is_ttl(golden: Golden, ttl: int) -> None:
    assert refused(golden, ttl=ttl) is Reason.TTL


def test_unknown_ttl_is_not_checked() -> None:
    d = V2.datagram
    assert decode(V2.payload, V2.expected(), src=d.src, dst=d.dst, ttl=None).vrid == 18


def test_unicast_does_not_require_ttl_255_but_requires_a_unicast_destination() -> None:
    advert = Advert(
        version=3,
        vrid=9,
        priority=100,
        advert_int_cs=100,
        family=Family.IPV4,
        addresses=(IPv4Address("192.168.88.100"),),
    )
    src, dst = IPv4Address("192.168.88.1"), IPv4Address("192.168.88.2")
    expected = Expected(
        family=Family.IPV4, version=3, vrids=frozenset({9}), advert_int_cs=100, unicast=True
    )
    assert decode(encode(advert, src=src, dst=dst), expected, src=src, dst=dst, ttl=64) == advert
    with pytest.raises(VrrpPacketError) as info:
        validate(advert, expected, dst=IPv4Address("224.0.0.18"), ttl=255)
    assert info.value.reason is Reason.DESTINATION


@pytest.mark.parametrize("golden", [V2, V3, V6], ids=lambda g: g.name)
def test_multicast_instance_refuses_a_unicast_destination(golden: Golden) -> None:
    advert = decode(
        golden.payload, golden.expected(), src=golden.datagram.src, dst=golden.datagram.dst, ttl=255
    )
    with pytest.raises(VrrpPacketError) as info:
        validate(advert, golden.expected(), dst=golden.datagram.src, ttl=255)
    assert info.value.reason is Reason.DESTINATION


def test_address_count_other_than_configured_is_addr_count() -> None:
    fewer = V3.expected(addresses=(IPv4Address("192.168.88.101"),))
    assert refused(V3, expected=fewer) is Reason.ADDR_COUNT


def test_missing_configured_address_is_addr_list() -> None:
    other = (IPv6Address("fd00::100"), IPv6Address("fd00::999"))
    assert refused(V6, expected=V6.expected(addresses=other)) is Reason.ADDR_LIST


def test_address_order_does_not_matter() -> None:
    d = V6.datagram
    reordered = V6.expected(addresses=tuple(reversed(V6.expected().addresses or ())))
    assert decode(V6.payload, reordered, src=d.src, dst=d.dst, ttl=255).vrid == 52


def test_address_check_can_be_skipped() -> None:
    d = V3.datagram
    expected = V3.expected(addresses=None)
    assert decode(V3.payload, expected, src=d.src, dst=d.dst, ttl=255).vrid == 51


def test_other_family_is_family() -> None:
    assert refused(V6, expected=V3.expected()) is Reason.FAMILY
    assert refused(V3, expected=V6.expected()) is Reason.FAMILY


# --- The carrying IP header ---------------------------------------------------------------------


def _ip_reason(packet: bytes) -> Reason:
    with pytest.raises(VrrpPacketError) as info:
        decode_ipv4(packet, V2.expected())
    return info.value.reason


def test_ipv4_helper_refusals() -> None:
    p = V2.packet
    assert _ip_reason(p[:19]) is Reason.IP_HEADER
    assert _ip_reason(b"\x60" + p[1:]) is Reason.IP_HEADER  # an IPv6 version nibble
    assert _ip_reason(p[:9] + b"\x06" + p[10:]) is Reason.IP_HEADER  # TCP
    assert _ip_reason(p[:-1]) is Reason.LENGTH  # total length says 40
    assert _ip_reason(p + b"\0") is Reason.LENGTH
    assert _ip_reason(b"\x44" + p[1:]) is Reason.LENGTH  # IHL 4 words
    assert _ip_reason(b"\x4f" + p[1:]) is Reason.LENGTH  # IHL 60 octets, longer than the packet
    assert _ip_reason(p[:8] + b"\xfe" + p[9:]) is Reason.TTL


def test_ipv4_helper_accepts_ip_options() -> None:
    """A router-alert option (4 octets) moves the VRRP message; IHL says where."""
    p = V2.packet
    header = bytes([0x46]) + p[1:2] + (len(p) + 4).to_bytes(2, "big") + p[4:20] + b"\x94\x04\0\0"
    assert decode_ipv4(header + p[20:], V2.expected()).vrid == 18


def test_ipv6_helper_refusals() -> None:
    p = V6.packet
    for bad, reason in [
        (p[:39], Reason.IP_HEADER),
        (b"\x45" + p[1:], Reason.IP_HEADER),
        (p[:6] + b"\x00" + p[7:], Reason.IP_HEADER),  # hop-by-hop header first
        (p[:-1], Reason.LENGTH),
    ]:
        with pytest.raises(VrrpPacketError) as info:
            split_ipv6(bad)
        assert info.value.reason is reason


def _addrs(golden: Golden) -> tuple[IPv4Address | IPv6Address, IPv4Address | IPv6Address]:
    return golden.datagram.src, golden.datagram.dst
