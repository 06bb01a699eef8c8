"""encode and decode agree on every valid advert; checksum variants; local misuse stays loud."""

from ipaddress import IPv4Address, IPv6Address

import pytest
from hypothesis import given
from hypothesis import strategies as st
from vrrp_golden import GOLDEN

from pykeepalived.errors import RemoteProtocolError
from pykeepalived.vrrp.packet import (
    Advert,
    AuthType,
    Family,
    Reason,
    VrrpPacketError,
    compute_checksum,
    encode,
    internet_checksum,
    parse,
    pass_auth_data,
)
from pykeepalived.vrrp.receive import Expected, decode

ipv4 = st.builds(IPv4Address, st.integers(0, 2**32 - 1))
ipv6 = st.builds(IPv6Address, st.integers(0, 2**128 - 1))


@st.composite
def adverts(draw: st.DrawFn) -> tuple[Advert, IPv4Address | IPv6Address, IPv4Address | IPv6Address]:
    """A valid advert with the source and destination of the packet that carries it."""
    version = draw(st.sampled_from([2, 3]))
    family = Family.IPV4 if version == 2 else draw(st.sampled_from(Family))
    addr = ipv4 if family is Family.IPV4 else ipv6
    auth_type, auth_data = AuthType.NONE, b""
    if version == 2:
        auth_type = draw(st.sampled_from([AuthType.NONE, AuthType.PASS]))
        auth_data = draw(st.binary(min_size=8, max_size=8))
        interval = draw(st.integers(1, 255)) * 100
    else:
        interval = draw(st.integers(1, 0xFFF))
    advert = Advert(
        version=version,
        vrid=draw(st.integers(1, 255)),
        priority=draw(st.integers(0, 255)),
        advert_int_cs=interval,
        family=family,
        addresses=tuple(draw(st.lists(addr, max_size=20))),
        auth_type=auth_type,
        auth_data=auth_data,
    )
    return advert, draw(addr), draw(addr)


def _expected_for(advert: Advert, *, as_v2: bool = False) -> Expected:
    return Expected(
        family=advert.family,
        version=advert.version,
        vrids=frozenset({advert.vrid}),
        advert_int_cs=advert.advert_int_cs,
        auth_type=advert.auth_type,
        auth_data=advert.auth_data if advert.auth_type is AuthType.PASS else b"",
        addresses=advert.addresses,
        v3_checksum_as_v2=as_v2,
    )


@given(adverts(), st.booleans())
def test_encode_then_decode_is_identity(
    case: tuple[Advert, IPv4Address | IPv6Address, IPv4Address | IPv6Address], as_v2: bool
) -> None:
    advert, src, _ = case
    dst = IPv4Address("224.0.0.18") if advert.family is Family.IPV4 else IPv6Address("ff02::12")
    message = encode(advert, src=src, dst=dst, v3_checksum_as_v2=as_v2)
    assert compute_checksum(message, src=src, dst=dst, v3_checksum_as_v2=as_v2) == int.from_bytes(
        message[6:8], "big"
    )
    expected = _expected_for(advert, as_v2=as_v2)
    assert decode(message, expected, src=src, dst=dst, ttl=255) == advert


@given(adverts())
def test_parse_then_encode_is_identity(
    case: tuple[Advert, IPv4Address | IPv6Address, IPv4Address | IPv6Address],
) -> None:
    advert, src, dst = case
    message = encode(advert, src=src, dst=dst)
    assert encode(parse(message, src=src, dst=dst), src=src, dst=dst) == message


def test_checksum_arithmetic_known_answers() -> None:
    """RFC 1071 section 3's example words, and an odd-length message padded with zero."""
    assert internet_checksum(bytes.fromhex("0001f203f4f5f6f7")) == ~0xDDF2 & 0xFFFF
    assert internet_checksum(b"\xff") == internet_checksum(b"\xff\x00")
    assert internet_checksum(b"") == 0xFFFF


# --- keepalived's v3_checksum_as_v2 -------------------------------------------------------------


def test_v3_checksum_as_v2_leaves_out_the_pseudo_header() -> None:
    """keepalived 2.2.8+: the v3 IPv4 checksum over the VRRP message alone, like v2."""
    golden = GOLDEN["v3_ipv4"]
    d = golden.datagram
    advert = parse(golden.payload, src=d.src, dst=d.dst)
    message = encode(advert, src=d.src, dst=d.dst, v3_checksum_as_v2=True)
    assert message[:6] == golden.payload[:6]
    assert message[8:] == golden.payload[8:]
    assert message[6:8] != golden.payload[6:8]
    assert internet_checksum(message) == 0  # a correct checksum sums the message to all ones


def test_v3_checksum_as_v2_receiver_accepts_both_forms_and_only_those() -> None:
    golden = GOLDEN["v3_ipv4"]
    d = golden.datagram
    as_v2 = golden.expected(v3_checksum_as_v2=True)
    no_pseudo = encode(
        parse(golden.payload, src=d.src, dst=d.dst), src=d.src, dst=d.dst, v3_checksum_as_v2=True
    )
    for message in (golden.payload, no_pseudo):
        assert decode(message, as_v2, src=d.src, dst=d.dst, ttl=255).vrid == 51
    with pytest.raises(VrrpPacketError) as info:
        decode(no_pseudo, golden.expected(), src=d.src, dst=d.dst, ttl=255)
    assert info.value.reason is Reason.CHECKSUM
    corrupt = no_pseudo[:8] + b"\xc0\xa8\x58\x99" + no_pseudo[12:]
    with pytest.raises(VrrpPacketError):
        decode(corrupt, as_v2, src=d.src, dst=d.dst, ttl=255)


def test_v3_checksum_as_v2_never_applies_to_ipv6() -> None:
    golden = GOLDEN["v3_ipv6"]
    d = golden.datagram
    advert = parse(golden.payload, src=d.src, dst=d.dst)
    assert encode(advert, src=d.src, dst=d.dst, v3_checksum_as_v2=True) == golden.payload


def test_v2_checksum_ignores_the_addresses_of_the_ip_header() -> None:
    golden = GOLDEN["v2_ipv4_pass"]
    advert = parse(golden.payload, src=IPv4Address("10.0.0.1"), dst=IPv4Address("10.0.0.2"))
    assert encode(advert) == golden.payload


# --- Local misuse is a ValueError, never a RemoteProtocolError -----------------------------------


def _v2(**kw: object) -> Advert:
    values: dict[str, object] = {
        "version": 2,
        "vrid": 18,
        "priority": 100,
        "advert_int_cs": 100,
        "family": Family.IPV4,
        "addresses": (IPv4Address("192.168.88.100"),),
        "auth_type": AuthType.PASS,
        "auth_data": pass_auth_data("123456"),
    }
    values.update(kw)
    return Advert(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "bad",
    [
        {"version": 1},
        {"vrid": 0},
        {"vrid": 256},
        {"priority": -1},
        {"priority": 256},
        {"advert_int_cs": 150},  # v2 is whole seconds
        {"advert_int_cs": 0},
        {"advert_int_cs": 25600},
        {"auth_data": b"123456"},  # must be the 8 octets: use pass_auth_data
        {"auth_type": AuthType.AH},
        {"family": Family.IPV6, "addresses": ()},  # v2 is IPv4 only
        {"addresses": (IPv6Address("fd00::1"),)},
        {"addresses": (IPv4Address("10.0.0.1"),) * 256},
        {"version": 3, "auth_type": AuthType.NONE},  # v3 carries no auth data
        {"version": 3, "auth_type": AuthType.NONE, "auth_data": b"", "advert_int_cs": 4096},
    ],
)
def test_invalid_adverts_are_local_bugs(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="invalid VRRP advert"):
        _v2(**bad)


def test_v2_none_auth_defaults_to_zero_octets() -> None:
    assert _v2(auth_type=AuthType.NONE, auth_data=b"").auth_data == bytes(8)


def test_v3_encode_needs_addresses_of_one_family() -> None:
    advert = Advert(version=3, vrid=1, priority=1, advert_int_cs=100, family=Family.IPV4)
    with pytest.raises(ValueError, match="source and destination"):
        encode(advert)
    with pytest.raises(ValueError, match="one address family"):
        encode(advert, src=IPv4Address("10.0.0.1"), dst=IPv6Address("ff02::12"))


def test_the_narrow_error_is_a_remote_protocol_error() -> None:
    err = VrrpPacketError(Reason.TTL, "hop limit 1")
    assert isinstance(err, RemoteProtocolError)
    assert (err.reason, err.detail, str(err)) == ("ttl", "hop limit 1", "ttl: hop limit 1")


@pytest.mark.parametrize(
    "bad",
    [
        {"version": 2, "family": Family.IPV6},
        {"version": 4},
        {"vrids": frozenset()},
        {"vrids": frozenset({0, 1})},
        {"auth_type": AuthType.PASS, "auth_data": b"123456"},
        {"auth_type": AuthType.AH},
    ],
)
def test_invalid_expectations_are_local_bugs(bad: dict[str, object]) -> None:
    values: dict[str, object] = {
        "family": Family.IPV4,
        "version": 2,
        "vrids": frozenset({18}),
        "advert_int_cs": 100,
    }
    values.update(bad)
    with pytest.raises(ValueError, match=r"VRRPv|VRIDs|auth"):
        Expected(**values)  # type: ignore[arg-type]


def test_checksum_of_less_than_a_header_is_a_local_bug() -> None:
    with pytest.raises(ValueError, match="at least 8"):
        compute_checksum(b"\x31\x01")
