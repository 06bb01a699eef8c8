"""A VIP deleted on the master by something else goes back on at once, without a flap.

keepalived answers an ``ip addr del`` of its VIP by leaving MASTER (priority 0) and coming
back after its skew time if the peer does not win the race; pykeepalived puts the address back
in place (``vrrp/node_vip_guard.py``): the backup never takes the VIP, no state changes, the
LAN hears gratuitous ARPs for it again. A ``no_track`` VIP is left deleted, as keepalived does.
Real daemons (VRRPv3, advert_int 0.05) on a bridge; ``c`` captures ARP with tcpdump.
"""

import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.kernel.nsutil import run

from .test_vrrp_wire import capture
from .vrrplab import VIP, VrrpLab, config, instance_conf, start_pair, vrrp_lab

pytestmark = pytest.mark.root
UNTRACKED = "192.168.88.101"
GARP = re.compile(
    r"^(\d+\.\d+) .*Request who-has 192\.168\.88\.100 (\(\S+\) )?tell 192\.168\.88\.100"
)


@pytest.fixture
def lab() -> Iterator[VrrpLab]:
    with vrrp_lab() as network:
        yield network


def conf(priority: int) -> str:
    vips = (f"{VIP}/24", f"{UNTRACKED}/24 no_track")
    extra = "garp_master_repeat 2\ngarp_master_delay 0"  # no second block to mistake for ours
    return config(instance_conf(priority=priority, vips=vips, extra=extra))


@pytest.mark.skipif(shutil.which("tcpdump") is None, reason="needs tcpdump")
def test_a_vip_deleted_on_the_master_is_put_back_in_place(lab: VrrpLab, tmp_path: Path) -> None:
    start_pair(lab, conf(100), conf(99))
    a, b = lab.daemons[1], lab.daemons[0]
    proc, out = capture(lab, tmp_path, "arp")
    try:
        a.wait_log("Entering MASTER STATE")
        states_before = (a.text().count("STATE"), b.text().count("STATE"))
        t0, wall0 = time.monotonic(), time.time()
        run("ip", "addr", "del", f"{VIP}/24", "dev", "eth1", ns=lab.ns["a"])
        back = lab.watch.wait_for(VIP, "a", after=t0, timeout=5) - t0
        run("ip", "addr", "del", f"{UNTRACKED}/24", "dev", "eth1", ns=lab.ns["a"])
        a.wait_log("removed by something else while MASTER: added back")
        time.sleep(1.0)  # twenty adverts: time for a flap to show
    finally:
        proc.terminate()
        proc.wait(timeout=5)
    print(f"VIP back on the master {back * 1000:.1f} ms after the deletion")
    assert back < 1.0
    assert lab.watch.holders(VIP) == {"a"}
    assert not [e for e in lab.watch.events if e[0] >= t0 and e[1] == "b"], "the backup took it"
    assert (a.text().count("STATE"), b.text().count("STATE")) == states_before  # no flap
    assert f"{VIP}/24 on eth1" in a.text()
    assert UNTRACKED not in lab.addresses("a")  # no_track: left as it is
    garps = [float(m.group(1)) for m in map(GARP.match, out.read_text().splitlines()) if m]
    assert len([t for t in garps if t >= wall0]) >= 2, out.read_text()  # garp_master_repeat 2
    assert "Traceback" not in a.text()
