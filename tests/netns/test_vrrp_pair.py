"""Two pykeepalived directors in network namespaces (issue 4's acceptance, our side).

Real daemons (``python -m pykeepalived -n -l -D -P``) on one bridge; who holds the VIP is read
from rtnetlink address events of both namespaces, stamped as they happen (``vrrplab.AddrWatch``).
The seed's vrrp_instance (priorities 100 / 99, VRID 18, VIP 192.168.88.100/24); most cases run
VRRPv3 with advert_int 0.05 to stay fast, the seed's own v2 / advert_int 1 runs once (slow).

Bounds (the issue's): SIGTERM of the master -> the backup holds the VIP within its skew time +
100 ms (the priority 0 advert); SIGKILL -> within the master-down interval + 150 ms; the master
that comes back preempts, and both never hold the VIP longer than one advert interval.
The bounds are the issue's, bare: ``SLACK_S`` (env ``VRRP_TIMING_SLACK_S``) adds to them
and defaults to 0. Measured at load average 6.5 on the 2 shared cores (other test suites and
a QEMU VM running), VRRP_TIMING_SLACK_S=0, two runs: SIGTERM 33-36 ms against 131 (v3 0.05)
and 63-65 ms against 161 (v3 0.1, IPv6); SIGKILL 159-173 ms against 331 and 254-345 ms
against 511: the margin is the bound's own 100 / 150 ms. The variable stays for a machine
slower than that; ``bench/failover.py`` reports the distributions.
"""

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .vrrplab import (
    VIP,
    VIP6,
    VrrpLab,
    config,
    failover_cycle,
    instance_conf,
    master_down_s,
    skew_s,
    start_pair,
    vrrp_lab,
    wait_sole,
)

pytestmark = pytest.mark.root
SEED = Path(__file__).parents[2] / "examples" / "seed"
SLACK_S = float(os.environ.get("VRRP_TIMING_SLACK_S", "0"))


@pytest.fixture
def lab() -> Iterator[VrrpLab]:
    with vrrp_lab() as network:
        yield network


def check_cycle(lab: VrrpLab, conf_a: str, conf_b: str, version: int, adv: float,
                addr: str = VIP) -> None:  # fmt: skip
    cycle = failover_cycle(lab, conf_a, conf_b, addr=addr)
    print(f"v{version} advert {adv}: {cycle}")
    assert cycle.sigterm <= skew_s(version, 99, adv) + 0.100 + SLACK_S
    assert cycle.preempt_overlap <= adv
    assert cycle.sigkill <= master_down_s(version, 99, adv) + 0.150 + SLACK_S
    for daemon in lab.daemons:
        assert "Traceback" not in daemon.text()


def test_v3_fast_failover_preempt(lab: VrrpLab) -> None:
    """The seed's instance with global ``vrrp_version 3`` and advert_int 0.05."""
    v3 = "    vrrp_version 3\n"
    conf_a = config(instance_conf(priority=100, version_line=False), global_defs=v3)
    conf_b = config(instance_conf(priority=99, version_line=False), global_defs=v3)
    check_cycle(lab, conf_a, conf_b, 3, 0.05)


def test_v3_unicast_failover(lab: VrrpLab) -> None:
    a, b = "192.168.88.8", "192.168.88.9"
    conf_a = config(instance_conf(priority=100, unicast=(a, b)))
    conf_b = config(instance_conf(priority=99, unicast=(b, a)))
    check_cycle(lab, conf_a, conf_b, 3, 0.05)


def test_v3_ipv6_failover(lab: VrrpLab) -> None:
    """An IPv6 instance: VRRPv3 from the link-local address to ff02::12."""
    vips = (f"{VIP6}/64",)
    conf_a = config(instance_conf(priority=100, advert_int=0.1, vips=vips))
    conf_b = config(instance_conf(priority=99, advert_int=0.1, vips=vips))
    check_cycle(lab, conf_a, conf_b, 3, 0.1, addr=VIP6)


@pytest.mark.slow
def test_seed_config_v2_advert_1(lab: VrrpLab) -> None:
    """The seed's own files, verbatim (VRRP only: -P)."""
    conf_a = (SEED / "keepalived-master.conf").read_text()
    conf_b = (SEED / "keepalived-backup.conf").read_text()
    check_cycle(lab, conf_a, conf_b, 2, 1.0)


def test_nopreempt(lab: VrrpLab) -> None:
    """nopreempt (needs state BACKUP): the better router does not take over a live master."""
    extra = "nopreempt"
    b = lab.start("b", config(instance_conf(priority=99, state="BACKUP", extra=extra)))
    wait_sole(lab, VIP, "b", timeout=20)
    a = lab.start("a", config(instance_conf(priority=100, state="BACKUP", extra=extra)))
    a.wait_log("Entering BACKUP STATE", timeout=20)
    time.sleep(1.0)  # 20 advert intervals
    assert lab.watch.holders(VIP) == {"b"}
    t0 = time.monotonic()
    b.kill(signal.SIGTERM)
    assert lab.watch.wait_for(VIP, "a", after=t0) - t0 <= skew_s(3, 100, 0.05) + 0.1 + SLACK_S


def test_preempt_delay(lab: VrrpLab) -> None:
    """preempt_delay 1: the better router takes over 1 s after it first hears the worse
    master, plus at most a master-down interval (keepalived: the delay runs, then lower
    priority adverts are ignored and the timer runs out). It hears from process start (its
    receive sockets open before the imports), so the delay may begin before the BACKUP log
    line: the lower bound runs from the exec, the upper one from that line."""
    extra = "preempt_delay 1"
    lab.start("b", config(instance_conf(priority=99, state="BACKUP", extra=extra)))
    wait_sole(lab, VIP, "b", timeout=20)
    spawned = time.monotonic()
    a = lab.start("a", config(instance_conf(priority=100, state="BACKUP", extra=extra)))
    a.wait_log("Entering BACKUP STATE", timeout=20)
    t0 = time.monotonic()
    taken = lab.watch.wait_for(VIP, "a", after=spawned, timeout=10)
    assert taken - spawned >= 0.9
    assert taken - t0 <= 1.0 + 2 * master_down_s(3, 100, 0.05) + 0.3
    assert "start preempt delay" in a.text()


def test_stale_vip_removed_at_start(lab: VrrpLab) -> None:
    """SIGKILL leaves the VIP on the dead master; started again, now as the worse router, it
    removes the stale VIP before running (keepalived does the same) and stays BACKUP."""
    conf_b = config(instance_conf(priority=99))
    start_pair(lab, config(instance_conf(priority=100)), conf_b)
    a = lab.daemons[-1]
    t0 = time.monotonic()
    a.kill(signal.SIGKILL)
    a.proc.wait(timeout=10)
    lab.watch.wait_for(VIP, "b", after=t0)
    assert lab.watch.holders(VIP) == {"a", "b"}  # the stale copy
    t1 = time.monotonic()
    a = lab.start("a", config(instance_conf(priority=90)))
    lab.watch.wait_for(VIP, "a", op="del", after=t1, timeout=20)
    a.wait_log("Entering BACKUP STATE")
    time.sleep(0.5)
    assert lab.watch.holders(VIP) == {"b"}
