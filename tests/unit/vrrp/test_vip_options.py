"""VIP line options as keepalived 2.2.7 applies them (vrrp_ipaddress.c): ``preferred_lft``
(IPv6 only; a /128 deprecated unless written), ``mngtmpaddr`` and ``autojoin`` as IFA_FLAGS;
what the kernel would refuse is a config error at the option, what it ignores a warning."""

import struct
from ipaddress import ip_interface

import pytest

from pykeepalived.config.loader import load
from pykeepalived.config.model_vrrp_items import VirtualIp
from pykeepalived.kernel.rtaddr import IFA_CACHEINFO, IFA_FLAGS, newaddr
from pykeepalived.vrrp.node_actions import vip_spec


def vip(line: str) -> tuple[VirtualIp | None, list[str]]:
    text = (
        "vrrp_instance V {\n interface eth0\n virtual_router_id 1\n priority 100\n"
        f" virtual_ipaddress {{\n  {line}\n }}\n}}\n"
    )
    result = load("t.conf", text=text, config_id="x", environment=None)
    said = [f"{d.severity.value}: {d.message}" for d in result.diagnostics]
    if result.config is None or not result.ok:
        return None, said
    return result.config.vrrp_instance[0].virtual_ipaddress[0], said


def attrs(message: bytes) -> dict[int, bytes]:
    """The rtattrs after nlmsghdr (16) and ifaddrmsg (8)."""
    out, at = {}, 24
    while at + 4 <= len(message):
        length, kind = struct.unpack_from("=HH", message, at)
        out[kind] = message[at + 4 : at + length]
        at += (length + 3) & ~3
    return out


@pytest.mark.parametrize(
    ("line", "preferred"),
    [
        ("fd00::1/128", 0),  # keepalived's default for a /128: deprecated
        ("fd00::1", 0),
        ("fd00::1/64", None),
        ("fd00::1/128 preferred_lft forever", None),
        ("fd00::1/64 preferred_lft 0", 0),
        ("fd00::1/64 preferred_lft 300", 300),
        ("fd00::1/64 preferred_lft 4294967295", None),  # INFINITY_LIFE_TIME
        ("10.0.0.1/24 preferred_lft forever", None),
    ],
)
def test_preferred_lifetime_as_keepalived(line: str, preferred: int | None) -> None:
    parsed, _ = vip(line)
    assert parsed is not None
    spec = vip_spec(parsed, "eth0")
    assert spec.preferred_lft_s == preferred
    got = attrs(newaddr(spec, 2, 1)).get(IFA_CACHEINFO)
    want = None if preferred is None else struct.pack("=IIII", preferred, 0xFFFFFFFF, 0, 0)
    assert got == want


def test_mngtmpaddr_and_autojoin_are_ifa_flags() -> None:
    parsed, said = vip("fd00::1/64 mngtmpaddr")
    assert parsed is not None
    assert said == []
    flags = attrs(newaddr(vip_spec(parsed, "eth0"), 2, 1))[IFA_FLAGS]
    assert struct.unpack("=I", flags)[0] == 0x100 | 0x02  # MANAGETEMPADDR | NODAD
    parsed, said = vip("239.1.2.3 autojoin")
    assert parsed is not None
    assert said == []
    flags = attrs(newaddr(vip_spec(parsed, "eth0"), 2, 1))[IFA_FLAGS]
    assert struct.unpack("=I", flags)[0] == 0x400  # MCAUTOJOIN
    # a removal names the address only: the kernel leaves the group by itself
    assert IFA_FLAGS not in attrs(newaddr(vip_spec(parsed, "eth0"), 2, 1, delete=True))


@pytest.mark.parametrize(
    ("line", "said"),
    [
        ("10.0.0.5/24 autojoin", "error: 'autojoin' needs a multicast address: the kernel "
                                 "refuses to add 10.0.0.5/24 with it"),
        ("fd00::1/128 mngtmpaddr", "error: 'mngtmpaddr' needs a /64 prefix: the kernel "
                                   "refuses to add fd00::1/128 with it"),
        ("10.0.0.5/24 mngtmpaddr", "warning: 'mngtmpaddr' is for IPv6 addresses: the kernel "
                                   "ignores it for IPv4"),
        ("10.0.0.5/24 preferred_lft 0", "warning: 'preferred_lft' is for IPv6 addresses: "
         "keepalived and pykeepalived ignore it for IPv4 (the address stays preferred)"),
    ],
)  # fmt: skip
def test_what_the_kernel_refuses_or_ignores_is_said_at_the_option(line: str, said: str) -> None:
    assert vip(line)[1] == [said]


def test_a_spec_without_options_is_unchanged() -> None:
    spec = vip_spec(VirtualIp(address=ip_interface("10.0.0.1/24")), "eth0")
    assert (spec.mngtmpaddr, spec.autojoin, spec.preferred_lft_s) == (False, False, None)
    assert IFA_FLAGS not in attrs(newaddr(spec, 2, 1))
