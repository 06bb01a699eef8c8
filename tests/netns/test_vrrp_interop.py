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
from collections.abc import Iterator

import pytest

from .vrrplab import (
    ADDRESSES,
    KEEPALIVED,
    VrrpLab,
    config,
    failover_cycle,
    instance_conf,
    master_down_s,
    skew_s,
    vrrp_lab,
)

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(
        shutil.which(KEEPALIVED) is None, reason="needs keepalived (scripts/setup.sh --test)"
    ),
]
SLACK_S = float(os.environ.get("VRRP_TIMING_SLACK_S", "0.1"))
# keepalived's words for an advert it refuses (vrrp.c vrrp_check_packet and friends)
COMPLAINT = re.compile(r"bad|invalid|ignoring|mismatch|wrong|discard|error", re.IGNORECASE)
# ... except the one that is the protocol working: a restarted better backup ignoring the
# lower-priority master until its timer runs out (preempt)
PREEMPTING = re.compile(r"received lower priority \(\d+\) advert from [\d.]+ - discarding")
OURS = re.compile(r"bad VRRP packet|wrong version|mismatch|ignoring")


@pytest.fixture
def lab() -> Iterator[VrrpLab]:
    with vrrp_lab() as network:
        yield network


MODES = [
    pytest.param(3, 0.05, False, id="v3-multicast"),
    pytest.param(3, 0.05, True, id="v3-unicast"),
    pytest.param(2, 1.0, False, id="v2-multicast", marks=pytest.mark.slow),
    pytest.param(2, 1.0, True, id="v2-unicast", marks=pytest.mark.slow),
]


@pytest.mark.parametrize(
    ("impl_a", "impl_b"), [("py", "ka"), ("ka", "py")], ids=["py-master", "ka-master"]
)
@pytest.mark.parametrize(("version", "adv", "unicast"), MODES)
def test_interop_failover(
    lab: VrrpLab, impl_a: str, impl_b: str, version: int, adv: float, unicast: bool
) -> None:
    a, b = ADDRESSES["a"], ADDRESSES["b"]
    conf_a = config(instance_conf(priority=100, version=version, advert_int=adv,
                                  unicast=(a, b) if unicast else None))  # fmt: skip
    conf_b = config(instance_conf(priority=99, version=version, advert_int=adv,
                                  unicast=(b, a) if unicast else None))  # fmt: skip
    cycle = failover_cycle(lab, conf_a, conf_b, impl_a=impl_a, impl_b=impl_b)
    print(f"{impl_a} master, {impl_b} backup, v{version} {adv}s unicast={unicast}: {cycle}")
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
