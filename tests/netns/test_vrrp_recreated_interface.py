"""An interface deleted and made again under the same name: the director follows it.

A raw socket stays bound to the interface index it was opened on, so a bond, VLAN or veth
re-created by a network manager leaves a daemon deaf and mute there unless it re-opens
(``vrrp/node_links.py``). Before that fix the re-created master stayed deaf: both directors
held the VIP for good. keepalived 2.2.7 recovers; so must we, whichever side is re-created.
"""

import re
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


def recreate_eth1(lab: VrrpLab, host: str, port: str) -> float:
    """Delete ``host``'s eth1 (its switch port ``port`` goes with it), wait, make both again
    with the same address; returns when the new eth1 came up."""
    ns = lab.ns[host]
    run("ip", "link", "del", port, ns=lab.lan.switch)
    time.sleep(0.5)
    run("ip", "link", "add", port, "type", "veth", "peer", "name", "eth1", "netns", ns,
        ns=lab.lan.switch)  # fmt: skip
    run("ip", "link", "set", port, "master", "br0", "up", ns=lab.lan.switch)
    run("ip", "addr", "add", "192.168.88.8/24", "dev", "eth1", "nodad", ns=ns)
    run("ip", "link", "set", "eth1", "up", ns=ns)
    return time.monotonic()


@pytest.mark.parametrize(
    ("priority", "holder"), [(100, "a"), (50, "b")], ids=["master recreated", "backup recreated"]
)
def test_a_recreated_interface_is_followed_and_the_election_settles(
    lab: VrrpLab, priority: int, holder: str
) -> None:
    conf_a = config(instance_conf(priority=priority))
    conf_b = config(instance_conf(priority=99))
    if priority > 99:
        start_pair(lab, conf_a, conf_b)
    else:
        lab.start("b", conf_b).wait_log("Entering MASTER STATE", timeout=20)
        lab.start("a", conf_a).wait_log("Entering BACKUP STATE", timeout=20)
    a = lab.daemons[1]  # b was started first either way
    up = recreate_eth1(lab, "a", "p1")  # a's eth1 is the peer of the switch's p1
    a.wait_log("eth1 was deleted and made again: its sockets re-opened", timeout=5)
    wait_sole(lab, VIP, holder, timeout=10, settle=1.0)
    overlaps = [o for o in lab.watch.overlaps(VIP, since=up) if o > 0]
    assert max(overlaps, default=0.0) <= 0.05, overlaps  # one advert interval at most
    if holder == "b":  # a lower-priority backup heard the master at once: never took over
        assert "a" not in {h for t, h, op, addr in lab.watch.events if t >= up and addr == VIP}
    assert "Traceback" not in a.text()


def test_a_missing_interface_at_start_is_a_clean_exit_naming_it(lab: VrrpLab) -> None:
    """keepalived 2.2.7 stops with "Non-existent interface specified in configuration"; we say
    which instance and line, and exit 1 without a traceback."""
    run("ip", "link", "del", "p1", ns=lab.lan.switch)  # a has no eth1
    a = lab.start("a", config(instance_conf(priority=100)))
    assert a.proc.wait(timeout=20) == 1
    assert re.search(r"cannot run: \(.*\.conf: line 6, vrrp_instance HA_WebServer\) "
                     r"interface eth1 does not exist", a.text()), a.text()  # fmt: skip
    assert "Traceback" not in a.text()
