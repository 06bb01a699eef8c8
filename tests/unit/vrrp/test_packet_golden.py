"""Adverts captured from keepalived 2.2.7 decode to the configured fields and re-encode exactly."""

from ipaddress import ip_address

import pytest
from vrrp_golden import GOLDENS, Golden

from pykeepalived.vrrp.ipheader import decode_ipv4
from pykeepalived.vrrp.packet import (
    AuthType,
    Family,
    Reason,
    VrrpPacketError,
    encode,
    pass_auth_data,
)
from pykeepalived.vrrp.receive import decode

IDS = [g.name for g in GOLDENS]


@pytest.mark.parametrize("golden", GOLDENS, ids=IDS)
def test_golden_decodes_to_the_configured_fields(golden: Golden) -> None:
    f, d = golden.fields, golden.datagram
    assert (d.src, d.dst, d.ttl) == (ip_address(f["src"]), ip_address(f["dst"]), f["ttl"])
    advert = decode(golden.payload, golden.expected(), src=d.src, dst=d.dst, ttl=d.ttl)
    assert advert.family is Family(f["family"])
    assert (advert.version, advert.vrid) == (f["version"], f["vrid"])
    assert advert.priority == f["priority"]
    assert advert.advert_int_cs == f["advert_int_cs"]
    assert advert.addresses == tuple(ip_address(a) for a in f["addresses"])
    assert advert.auth_type is AuthType[f["auth_type"]]
    if f["version"] == 2:  # eight octets always; zeros without a password
        assert advert.auth_data == pass_auth_data(f["auth_pass"] or "")
    else:
        assert advert.auth_data == b""


@pytest.mark.parametrize("golden", GOLDENS, ids=IDS)
def test_golden_reencodes_byte_for_byte(golden: Golden) -> None:
    d = golden.datagram
    advert = decode(golden.payload, golden.expected(), src=d.src, dst=d.dst, ttl=d.ttl)
    assert encode(advert, src=d.src, dst=d.dst) == golden.payload


@pytest.mark.parametrize(
    "golden", [g for g in GOLDENS if g.fields["family"] == 4], ids=lambda g: g.name
)
def test_ipv4_goldens_decode_from_the_whole_packet(golden: Golden) -> None:
    """What an IPv4 raw socket hands us: the IP header and the VRRP message."""
    advert = decode_ipv4(golden.packet, golden.expected())
    assert advert.vrid == golden.fields["vrid"]


def test_the_seed_instance_is_what_keepalived_sends() -> None:
    """The seed's vrrp_instance (vrid 18, prio 100, 1 s, PASS 123456, one VIP), spelled by hand."""
    golden = next(g for g in GOLDENS if g.name == "v2_ipv4_pass")
    expected_hex = (
        "21"  # version 2, type 1 (Advertisement)
        "12"  # VRID 18
        "64"  # priority 100
        "01"  # one address
        "01"  # auth type 1 (PASS)
        "01"  # advert interval 1 s
        "c741"  # checksum
        "c0a85864"  # 192.168.88.100
        "3132333435360000"  # "123456" NUL padded to 8 octets
    )
    assert golden.payload.hex() == expected_hex


def test_keepalived_sends_unicast_ipv6_with_hop_limit_64() -> None:
    """keepalived 2.2.7 leaves the unicast IPv6 hop limit at the default (IPv4 unicast: TTL 255).

    So a unicast instance must not require 255, as RFC 5798 5.1.2.3 would for multicast.
    """
    golden = next(g for g in GOLDENS if g.name == "v3_ipv6_unicast")
    d = golden.datagram
    assert d.ttl == 64
    assert decode(golden.payload, golden.expected(), src=d.src, dst=d.dst, ttl=d.ttl).vrid == 62
    with pytest.raises(VrrpPacketError) as info:
        decode(golden.payload, golden.expected(unicast=False), src=d.src, dst=d.dst, ttl=d.ttl)
    assert info.value.reason is Reason.TTL
