"""Routes of ours deleted from outside go back (the route guard), the master staying MASTER.

keepalived reinstates a deleted static route and, for a MASTER's virtual route, leaves MASTER
and races the peer back; pykeepalived puts either back in place (``vrrp/node_route_guard.py``).
A ``no_track`` route is left deleted. Deleting the VIP flushes the route that uses it as its
source: both come back, VIP first, with no error (the VIP guard sets all the instance's routes
again, as a takeover would, and as keepalived's leaving and retaking MASTER does).
Real daemons, VRRPv3 advert_int 0.05.
"""

import time
from collections.abc import Iterator

import pytest
from tests.kernel.nsutil import run

from .vrrplab import VIP, VrrpLab, config, instance_conf, start_pair, vrrp_lab

pytestmark = pytest.mark.root
ROUTES = f"""
virtual_routes {{
    10.99.0.0/16 via 192.168.88.1 dev eth1
    10.96.0.0/16 via 192.168.88.1 dev eth1 no_track
    10.95.0.0/16 dev eth1 src {VIP}
}}
"""
STATIC = "static_routes {\n    10.50.0.0/16 via 192.168.88.1 dev eth1\n}\n"


@pytest.fixture
def lab() -> Iterator[VrrpLab]:
    with vrrp_lab() as network:
        yield network


def conf(priority: int) -> str:
    return config(instance_conf(priority=priority, extra=ROUTES), STATIC)


def present(lab: VrrpLab, net: str) -> bool:
    return bool(run("ip", "route", "show", net, ns=lab.ns["a"]).strip())


def wait_present(lab: VrrpLab, net: str, timeout: float = 3.0) -> float:
    start = time.monotonic()
    while not present(lab, net):
        assert time.monotonic() - start < timeout, f"{net} not back within {timeout} s"
        time.sleep(0.02)
    return time.monotonic() - start


def test_routes_deleted_from_outside_go_back_and_the_master_stays(lab: VrrpLab) -> None:
    start_pair(lab, conf(100), conf(99))
    a = lab.daemons[1]
    for net in ("10.99.0.0/16", "10.96.0.0/16", "10.95.0.0/16", "10.50.0.0/16"):
        wait_present(lab, net)
    states = a.text().count("STATE")

    run("ip", "route", "del", "10.99.0.0/16", ns=lab.ns["a"])
    virtual = wait_present(lab, "10.99.0.0/16")
    a.wait_log("virtual route(s)/rule(s) removed by something else while MASTER: added back")
    run("ip", "route", "del", "10.50.0.0/16", ns=lab.ns["a"])
    static = wait_present(lab, "10.50.0.0/16")
    a.wait_log("Restoring 1 deleted static route(s)/rule(s)")
    run("ip", "route", "del", "10.96.0.0/16", ns=lab.ns["a"])
    time.sleep(0.5)
    assert not present(lab, "10.96.0.0/16")  # no_track: left as it is
    run("ip", "addr", "del", f"{VIP}/24", "dev", "eth1", ns=lab.ns["a"])
    with_vip = wait_present(lab, "10.95.0.0/16")  # the VIP guard sets the routes again
    time.sleep(0.5)
    print(f"back after: virtual {virtual:.3f} s, static {static:.3f} s, src VIP {with_vip:.3f} s")

    assert lab.watch.holders(VIP) == {"a"}
    assert a.text().count("STATE") == states  # no flap
    assert "cannot" not in a.text()  # no route put back before its source address
    assert "Traceback" not in a.text()
