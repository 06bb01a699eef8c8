"""The master's advert source address is removed: it goes to FAULT, the peer takes over, and
it comes back when the address does (``vrrp/node_source_guard.py``).

Before: the master could no longer send (every advert refused by the kernel) but kept the VIP,
and the peer, hearing nothing, took it too: both held it for good. keepalived 2.2.7 goes to
FAULT too ("no source IP"). Real daemons, VRRPv3 advert_int 0.05.
"""

import time
from collections.abc import Iterator

import pytest
from tests.kernel.nsutil import run

from .vrrplab import VIP, VrrpLab, config, instance_conf, start_pair, vrrp_lab, wait_sole

pytestmark = pytest.mark.root


@pytest.fixture
def lab() -> Iterator[VrrpLab]:
    with vrrp_lab() as network:
        yield network


def test_a_master_whose_source_address_goes_faults_and_returns_with_it(lab: VrrpLab) -> None:
    start_pair(lab, config(instance_conf(priority=100)), config(instance_conf(priority=99)))
    a = lab.daemons[1]
    t0 = time.monotonic()
    run("ip", "addr", "add", "192.168.88.18/24", "dev", "eth1", ns=lab.ns["a"])  # another one
    run("ip", "addr", "del", "192.168.88.8/24", "dev", "eth1", ns=lab.ns["a"])
    a.wait_log("source address 192.168.88.8 is gone from eth1: FAULT until it is back")
    wait_sole(lab, VIP, "b", timeout=5)
    overlaps = [o for o in lab.watch.overlaps(VIP, since=t0) if o > 0]
    assert max(overlaps, default=0.0) <= 0.05, overlaps
    assert "Entering FAULT STATE" in a.text()

    t1 = time.monotonic()
    run("ip", "addr", "add", "192.168.88.8/24", "dev", "eth1", ns=lab.ns["a"])
    a.wait_log("source address 192.168.88.8 is back on eth1", timeout=5)
    wait_sole(lab, VIP, "a", timeout=5)  # preempts again
    overlaps = [o for o in lab.watch.overlaps(VIP, since=t1) if o > 0]
    assert max(overlaps, default=0.0) <= 0.05, overlaps
    assert "Traceback" not in a.text()
