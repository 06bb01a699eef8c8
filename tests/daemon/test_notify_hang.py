"""Notify scripts that hang or are missing are logged and never stall VRRP (issue 8).

Two real pykeepalived daemons in network namespaces (``tests/netns/vrrplab``), VRRPv3 with
advert_int 0.1. The master's ``notify_master``, ``notify`` and ``notify_stop`` hang (a shell
that records its PID and sleeps 1000 s); the backup's notify scripts do not exist. With them:
a reload of the master keeps its state and does not wait for the hung scripts; SIGTERM of the
master hands the VIP to the backup within the usual bound; the hung STOP scripts are killed at
keepalived's one-second timeout and the other hung scripts at the stop, so the master is gone
within a few seconds and leaves no process behind; the master comes back and preempts.
"""

import os
import secrets
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.netns.vrrplab import (
    VIP,
    VrrpLab,
    config,
    instance_conf,
    skew_s,
    start_pair,
    vrrp_lab,
    wait_sole,
)

pytestmark = pytest.mark.root
ADVERT = 0.1
SLACK_S = float(os.environ.get("VRRP_TIMING_SLACK_S", "0.1"))


@pytest.fixture
def lab() -> Iterator[VrrpLab]:
    with vrrp_lab() as network:
        yield network


def group_alive(pgid: int) -> list[int]:
    """Live processes (not zombies) of process group ``pgid``."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            out.append(int(entry))
    return out


def runs(pids: Path) -> list[tuple[int, str]]:
    """(pid, arguments) of each run of the hung script so far."""
    if not pids.exists():
        return []
    return [(int(p), rest) for p, _, rest in
            (line.partition(" ") for line in pids.read_text().splitlines())]  # fmt: skip


def wait_until(check: "object", timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


def test_hung_and_missing_notify_scripts_do_not_stall_vrrp(lab: VrrpLab) -> None:
    pids = lab.tmp / "pids"
    hang = lab.tmp / "hang.sh"
    hang.write_text(f'#!/bin/sh\necho "$$ $*" >> {pids}\nsleep 1000\n')
    hang.chmod(0o755)
    missing = f"/nonexistent-{secrets.token_hex(3)}/notify.sh"
    hung = f'notify_master "{hang} master"\nnotify {hang}\nnotify_stop "{hang} stop"'
    conf_a = config(instance_conf(priority=100, advert_int=ADVERT, extra=hung))
    absent = f"notify_master {missing}\nnotify_backup {missing}"
    conf_b = config(instance_conf(priority=90, advert_int=ADVERT, extra=absent))
    start_pair(lab, conf_a, conf_b)
    b, a = lab.daemons
    assert wait_until(lambda: any(args == "master" for _, args in runs(pids)), 5)
    masters = a.text().count("Entering MASTER STATE")

    # A reload while the notify scripts hang: no wait for them, no state change, no flap.
    t0 = time.monotonic()
    a.log.with_suffix(".conf").write_text(conf_a.replace("priority 100", "priority 110"))
    a.kill(signal.SIGHUP)
    a.wait_log("reloaded:", timeout=6)
    reload_s = time.monotonic() - t0
    assert reload_s < 3.0, "the reload waited for the hung scripts (it used to wait 5 s)"
    time.sleep(10 * ADVERT)
    assert "VRRP: 1 instance(s) kept their state" in a.text()
    assert a.text().count("Entering MASTER STATE") == masters
    assert lab.watch.holders(VIP) == {"a"}
    assert lab.watch.overlaps(VIP, since=t0) == []
    assert all(group_alive(pid) for pid, _ in runs(pids)), "a reload killed a notify script"

    # Failover with the master's scripts hung: the backup takes over within its skew time
    # plus the priority 0 advert; the master is gone soon after, leaving no process.
    t1 = time.monotonic()
    a.kill(signal.SIGTERM)
    took = lab.watch.wait_for(VIP, "b", after=t1) - t1
    assert took <= skew_s(3, 90, ADVERT) + 0.1 + SLACK_S
    a.proc.wait(timeout=10)
    stop_s = time.monotonic() - t1
    print(f"reload {reload_s:.2f} s, takeover {took:.3f} s, master gone {stop_s:.2f} s")
    assert stop_s < 4.0, "the stop waited too long for hung scripts"
    log = a.text()
    assert f"script {hang} (notify_stop) timed out after 1.0 s; killed" in log
    assert f"script {hang} (notify) timed out after 1.0 s; killed" in log  # the STOP notify
    assert f"script {hang} (notify_master) still running at stop; terminating it" in log
    assert all(not group_alive(pid) for pid, _ in runs(pids)), runs(pids)
    b.wait_log(f"cannot run script {missing} (notify_master)")
    assert f"cannot run script {missing} (notify_backup)" in b.text()

    # The master comes back and preempts, its notify_master hanging again.
    t2 = time.monotonic()
    a = lab.start("a", conf_a)
    wait_sole(lab, VIP, "a", timeout=20, settle=0.5)
    assert max(lab.watch.overlaps(VIP, since=t2), default=0.0) <= ADVERT
    assert wait_until(lambda: len([r for r in runs(pids) if r[1] == "master"]) == 2, 5)
    a.stop()
    for daemon in lab.daemons:
        assert "Traceback" not in daemon.text()
    assert all(not group_alive(pid) for pid, _ in runs(pids)), runs(pids)
