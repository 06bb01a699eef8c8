"""Table values are canonical: two spellings of the same kernel state compare equal, so that a
backend's read-back equals what was asked for and a reconcile after apply is empty."""

from ipaddress import ip_address

import pytest

from pykeepalived.lvs.table import (
    Destination,
    DestKey,
    Method,
    Service,
    ServiceKey,
    canonical_flags,
    canonical_netmask,
)

V4 = ServiceKey(family=4, protocol="TCP", address=ip_address("192.0.2.1"), port=80)
V6 = ServiceKey(family=6, protocol="TCP", address=ip_address("2001:db8::1"), port=80)
RS = DestKey(address=ip_address("10.0.0.1"), port=80)


def test_flag_names_follow_the_scheduler() -> None:
    assert canonical_flags("sh", frozenset({"flag-1", "flag-2"})) == {"sh-fallback", "sh-port"}
    assert canonical_flags("mh", frozenset({"flag-2", "flag-3"})) == {"mh-port", "flag-3"}
    assert canonical_flags("wlc", frozenset({"sh-port"})) == {"flag-2"}
    with pytest.raises(ValueError, match="unknown scheduler flags"):
        canonical_flags("rr", frozenset({"flag-4"}))
    assert Service(key=V4, scheduler="sh", flags=frozenset({"flag-2"})) == Service(
        key=V4, scheduler="sh", flags=frozenset({"sh-port"})
    )


def test_persistence_spellings() -> None:
    assert canonical_netmask(4, "24") == "255.255.255.0"
    assert canonical_netmask(4, "255.255.255.255") is None
    assert canonical_netmask(6, "/64") == "64"
    assert canonical_netmask(6, "128") is None
    with pytest.raises(ValueError, match="out of range"):
        canonical_netmask(6, "129")
    # keepalived: a granularity alone means persistence with the default 360 s.
    alone = Service(key=V4, persistence_netmask="24")
    assert (alone.persistence_timeout, alone.persistence_netmask) == (360, "255.255.255.0")
    assert Service(key=V4, persistence_timeout=0) == Service(key=V4)
    assert Service(key=V6, persistence_timeout=60, persistence_netmask="128") == Service(
        key=V6, persistence_timeout=60
    )


def test_tunnel_fields_only_for_tun_and_explicit() -> None:
    assert Destination(key=RS, method=Method.NAT, tunnel_type="gre").tunnel_type is None
    tun = Destination(key=RS, method=Method.TUN)
    assert (tun.tunnel_type, tun.tunnel_port, tun.tunnel_csum) == ("ipip", None, "nocsum")
    gre = Destination(key=RS, method=Method.TUN, tunnel_type="gre", tunnel_port=99)
    assert gre.tunnel_port is None
    with pytest.raises(ValueError, match="GUE tunnel needs a port"):
        Destination(key=RS, method=Method.TUN, tunnel_type="gue")
