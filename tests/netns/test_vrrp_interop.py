"""pykeepalived beside Debian's keepalived 2.2.7 on one LAN (issue 4's interop acceptance).

Each case runs the failover cycle of ``test_vrrp_pair`` with one director of each kind, both
ways round (pykeepalived master with keepalived backup, and the reverse), VRRPv2 (auth PASS,
advert_int 1: slow) and VRRPv3 (advert_int 0.05), multicast and unicast: SIGTERM of the master
-> the backup holds the VIP within skew + 100 ms; the master comes back and preempts with no
overlap longer than an interval; SIGKILL -> within master-down + 150 ms. Neither side may log
a complaint about the other's adverts.
"""

import os
import re
import shutil
import signal
import time
from collections.abc import Iterator

import pytest

from .vrrplab import (
    ADDRESSES,
    KEEPALIVED,
    VIP,
    VIP6,
    VrrpLab,
    config,
    failover_cycle,
    instance_conf,
    master_down_s,
    skew_s,
    vrrp_lab,
    wait_sole,
)

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(
        shutil.which(KEEPALIVED) is None, reason="needs keepalived (scripts/setup.sh --test)"
    ),
]
SLACK_S = float(os.environ.get("VRRP_TIMING_SLACK_S", "0.1"))
# keepalived's words for an advert it refuses (vrrp.c vrrp_check_packet and friends); \b so that
# a random temp dir name (vrrplab-61mcibad) in its command line does not count
COMPLAINT = re.compile(r"\b(?:bad|invalid|ignoring|mismatch|wrong|discard|error)", re.IGNORECASE)
# ... except the one that is the protocol working: a restarted better backup ignoring the
# lower-priority master until its timer runs out (preempt)
PREEMPTING = re.compile(r"received lower priority \(\d+\) advert from [\da-f.:]+ - discarding")
OURS = re.compile(r"bad VRRP packet|wrong version|mismatch|ignoring")


@pytest.fixture
def lab() -> Iterator[VrrpLab]:
    with vrrp_lab() as network:
        yield network


MODES = [
    pytest.param(3, 0.05, False, 4, id="v3-multicast"),
    pytest.param(3, 0.05, True, 4, id="v3-unicast"),
    pytest.param(3, 0.1, False, 6, id="v3-ipv6"),
    pytest.param(2, 1.0, False, 4, id="v2-multicast", marks=pytest.mark.slow),
    pytest.param(2, 1.0, True, 4, id="v2-unicast", marks=pytest.mark.slow),
]


@pytest.mark.parametrize(
    ("impl_a", "impl_b"), [("py", "ka"), ("ka", "py")], ids=["py-master", "ka-master"]
)
@pytest.mark.parametrize(("version", "adv", "unicast", "family"), MODES)
def test_interop_failover(
    lab: VrrpLab, impl_a: str, impl_b: str, version: int, adv: float, unicast: bool, family: int
) -> None:
    a, b = ADDRESSES["a"], ADDRESSES["b"]
    vip, vips = (VIP, (f"{VIP}/24",)) if family == 4 else (VIP6, (f"{VIP6}/64",))
    conf_a = config(instance_conf(priority=100, version=version, advert_int=adv, vips=vips,
                                  unicast=(a, b) if unicast else None))  # fmt: skip
    conf_b = config(instance_conf(priority=99, version=version, advert_int=adv, vips=vips,
                                  unicast=(b, a) if unicast else None))  # fmt: skip
    cycle = failover_cycle(lab, conf_a, conf_b, impl_a=impl_a, impl_b=impl_b, addr=vip)
    print(f"{impl_a} master, {impl_b} backup, v{version} {adv}s unicast={unicast}"
          f" IPv{family}: {cycle}")  # fmt: skip
    assert cycle.sigterm <= skew_s(version, 99, adv) + 0.100 + SLACK_S
    assert cycle.preempt_overlap <= adv
    assert cycle.sigkill <= master_down_s(version, 99, adv) + 0.150 + SLACK_S
    for daemon in lab.daemons:
        text = daemon.text()
        if daemon.impl == "ka":
            complaints = [
                line
                for line in text.splitlines()
                if COMPLAINT.search(line) and not PREEMPTING.search(line)
            ]
            assert complaints == [], complaints
            assert "Entering MASTER STATE" in text or "Entering BACKUP STATE" in text
        else:
            assert not OURS.search(text), text
            assert "Traceback" not in text


@pytest.mark.parametrize(("impl_a", "impl_b"), [("py", "ka"), ("ka", "py")], ids=["py-a", "ka-a"])
def test_interop_nopreempt_and_preempt_delay(lab: VrrpLab, impl_a: str, impl_b: str) -> None:
    """The better router (a, nopreempt) joins a live master (b) of the other kind and stays
    BACKUP; b leaves (SIGTERM) and a takes over in skew time; b comes back with preempt_delay
    as the worse router and stays BACKUP."""
    nopreempt = "nopreempt"
    b = lab.start("b", config(instance_conf(priority=99, state="BACKUP")), impl=impl_b)
    wait_sole(lab, VIP, "b", timeout=20)
    a = lab.start("a", config(instance_conf(priority=100, state="BACKUP", extra=nopreempt)),
                  impl=impl_a)  # fmt: skip
    a.wait_log("Entering BACKUP STATE", timeout=20)
    time.sleep(1.0)  # 20 intervals: no takeover
    assert lab.watch.holders(VIP) == {"b"}
    t0 = time.monotonic()
    b.kill(signal.SIGTERM)
    assert lab.watch.wait_for(VIP, "a", after=t0) - t0 <= skew_s(3, 100, 0.05) + 0.1 + SLACK_S
    b.proc.wait(timeout=10)
    # the worse router with preempt_delay stays BACKUP behind the better master
    b = lab.start("b", config(instance_conf(priority=99, state="BACKUP", extra="preempt_delay 1")),
                  impl=impl_b)  # fmt: skip
    b.wait_log("Entering BACKUP STATE", timeout=20)
    time.sleep(1.5)
    assert lab.watch.holders(VIP) == {"a"}
