"""VIP line options ``preferred_lft``, ``mngtmpaddr``, ``autojoin``: what the kernel holds is
what keepalived 2.2.7 makes of the same lines.

Debian's keepalived runs on ``a`` and pykeepalived on ``b`` with the same config (its own VRID
and IPv4 VIP each, so both are masters): static addresses (added at start) and a master's VIP
and excluded VIP. ``ip -j -d addr`` must show the same flags and lifetimes on both, and the
multicast groups of the ``autojoin`` addresses joined; at stop the addresses go and the groups
are left.
"""

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from tests.kernel.nsutil import run

from .vrrplab import KEEPALIVED, VrrpLab, config, instance_conf, vrrp_lab

pytestmark = pytest.mark.root

STATIC = """
static_ipaddress {
    fd00:70::1/64 dev eth1 mngtmpaddr preferred_lft 300
    fd00:71::1/128 dev eth1
    fd00:72::1/128 dev eth1 preferred_lft forever
    fd00:73::1/64 dev eth1 preferred_lft 0
    239.7.7.7/32 dev eth1 autojoin
    ff15::7/128 dev eth1 autojoin
    10.70.0.1/24 dev eth1 preferred_lft forever
}
"""
# keyed by address: what both daemons must have set
WANTED = {
    "fd00:70::1": {"mngtmpaddr": True, "preferred": 300},
    "fd00:71::1": {"deprecated": True, "preferred": 0},  # a /128 is deprecated by default
    "fd00:72::1": {"preferred": "forever"},
    "fd00:73::1": {"deprecated": True, "preferred": 0},
    "239.7.7.7": {"autojoin": True, "preferred": "forever"},
    "ff15::7": {"autojoin": True, "deprecated": True, "preferred": 0},
    "10.70.0.1": {"preferred": "forever"},
    "fd00:74::1": {"mngtmpaddr": True, "preferred": 120},  # the master's excluded VIP
}
GROUPS = ("239.7.7.7", "ff15::7")
FLAGS = ("mngtmpaddr", "autojoin", "deprecated", "nodad")


def conf(vrid: int, vip: str) -> str:
    extra = "virtual_ipaddress_excluded {\n    fd00:74::1/64 mngtmpaddr preferred_lft 120\n}"
    return config(STATIC, instance_conf(priority=100, vrid=vrid, vips=(f"{vip}/24",), extra=extra))


@pytest.fixture
def lab() -> Iterator[VrrpLab]:
    with vrrp_lab() as network:
        yield network


def addresses(lab: VrrpLab, host: str) -> dict[str, dict[str, Any]]:
    """Our addresses on ``host``'s eth1: flags and preferred lifetime (seconds or forever)."""
    (link,) = json.loads(run("ip", "-j", "-d", "addr", "show", "dev", "eth1", ns=lab.ns[host]))
    out = {}
    for info in link["addr_info"]:
        if info["local"] in WANTED:
            life = info.get("preferred_life_time", 0)
            found = {f: bool(info.get(f)) for f in FLAGS}
            found["preferred"] = "forever" if life == 0xFFFFFFFF else life
            out[info["local"]] = found
    return out


def groups(lab: VrrpLab, host: str) -> set[str]:
    words = run("ip", "maddr", "show", "dev", "eth1", ns=lab.ns[host]).split()
    return {g for g in GROUPS if g in words}


def wait_all(lab: VrrpLab, host: str, timeout: float = 15.0) -> dict[str, dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        found = addresses(lab, host)
        if found.keys() == WANTED.keys() or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


@pytest.mark.skipif(not __import__("os").path.exists(KEEPALIVED), reason="needs keepalived")
def test_lifetimes_and_flags_are_keepalived_s(lab: VrrpLab) -> None:
    ka = lab.start("a", conf(18, "192.168.88.100"), impl="ka")
    py = lab.start("b", conf(19, "192.168.88.101"))
    theirs, ours = wait_all(lab, "a"), wait_all(lab, "b")
    assert ours.keys() == WANTED.keys(), sorted(ours)
    assert theirs.keys() == WANTED.keys(), sorted(theirs)
    for address, want in WANTED.items():
        for side in (theirs, ours):
            got = side[address]
            if isinstance(want["preferred"], int) and want["preferred"] > 0:
                # counting down since the add: within a few seconds of the configured value
                assert want["preferred"] - 10 <= got["preferred"] <= want["preferred"], address
                got = {**got, "preferred": want["preferred"]}
            assert {k: v for k, v in got.items() if k in want or v} == {
                **want,
                **({"nodad": True} if ":" in address else {}),
            }, (address, side is ours)
    assert groups(lab, "a") == groups(lab, "b") == set(GROUPS)
    ka.stop()
    py.stop()
    assert addresses(lab, "b") == {}
    assert groups(lab, "b") == set(), "the kernel leaves the group when the address goes"
