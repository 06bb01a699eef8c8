"""Tracking in real daemons: vrrp_script weight, track_interface FAULT, track_file, sync groups,
and the notify scripts with keepalived's arguments (issue 4's acceptance).

Two pykeepalived directors (``vrrplab``), VRRPv3 with advert_int 0.05; ``a`` has priority 100
and is master until a tracker says otherwise, ``b`` has 99.
"""

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.kernel.nsutil import run

from .vrrplab import VIP, VrrpLab, config, instance_conf, vrrp_lab, wait_sole

pytestmark = pytest.mark.root
VIP2 = "192.168.88.101"


@pytest.fixture
def lab() -> Iterator[VrrpLab]:
    with vrrp_lab() as network:
        yield network


def dummy(lab: VrrpLab, host: str) -> None:
    """A link to track: trk0, one end of a veth pair (no dummy module here); its peer trk1."""
    run("ip", "link", "add", "trk0", "type", "veth", "peer", "name", "trk1", ns=lab.ns[host])
    run("ip", "link", "set", "trk1", "up", ns=lab.ns[host])
    run("ip", "link", "set", "trk0", "up", ns=lab.ns[host])


def test_track_script_weight_moves_vip_and_back(lab: VrrpLab, tmp_path: Path) -> None:
    flag = tmp_path / "down"
    notes = tmp_path / "notify.log"
    notify = tmp_path / "notify.sh"
    notify.write_text(f'#!/bin/sh\necho "$@" >> {notes}\n')
    notify.chmod(0o755)
    script = (
        f'vrrp_script chk {{\n    script "/usr/bin/test ! -e {flag}"\n'
        "    interval 0.1\n    weight -10\n    fall 2\n    rise 2\n}\n"
    )
    extra = f"track_script {{\n    chk\n}}\nnotify {notify}"
    lab.start("b", config(instance_conf(priority=99)))
    a = lab.start("a", config(script, instance_conf(priority=100, extra=extra)))
    wait_sole(lab, VIP, "a", timeout=20)
    a.wait_log("VRRP_Script(chk) succeeded")
    t0 = time.monotonic()
    flag.touch()
    lab.watch.wait_for(VIP, "b", after=t0, timeout=5)  # 100 - 10 = 90 < 99
    wait_sole(lab, VIP, "b")
    assert "VRRP_Script(chk) failed (exited with status 1)" in a.text()
    assert "Changing effective priority from 100 to 90" in a.text()
    t1 = time.monotonic()
    flag.unlink()
    lab.watch.wait_for(VIP, "a", after=t1, timeout=5)
    wait_sole(lab, VIP, "a")
    lines = notes.read_text().splitlines()
    assert lines[:3] == [
        "INSTANCE HA_WebServer BACKUP 100",
        "INSTANCE HA_WebServer MASTER 100",
        "INSTANCE HA_WebServer BACKUP 90",
    ]


def test_track_interface_down_faults_and_moves_vip(lab: VrrpLab, tmp_path: Path) -> None:
    """trk0 down: FAULT (priority 0 advert, the peer takes over); up: BACKUP, then preempt.
    notify_master/backup/fault/stop and notify run on each transition, keepalived's way."""
    dummy(lab, "a")
    notes = tmp_path / "notes"
    note = tmp_path / "note.sh"
    note.write_text(f'#!/bin/sh\necho "$@" >> {notes}\n')
    note.chmod(0o755)
    extra = "track_interface {\n    trk0\n}\n" + "\n".join(
        f'notify_{s} "{note} {s}"' for s in ("master", "backup", "fault", "stop")
    )
    lab.start("b", config(instance_conf(priority=99)))
    a = lab.start("a", config(instance_conf(priority=100, extra=extra + f"\nnotify {note}")))
    wait_sole(lab, VIP, "a", timeout=20)
    t0 = time.monotonic()
    run("ip", "link", "set", "trk0", "down", ns=lab.ns["a"])
    lab.watch.wait_for(VIP, "b", after=t0, timeout=5)
    wait_sole(lab, VIP, "b")
    a.wait_log("Entering FAULT STATE")
    t1 = time.monotonic()
    run("ip", "link", "set", "trk0", "up", ns=lab.ns["a"])
    lab.watch.wait_for(VIP, "a", after=t1, timeout=5)
    wait_sole(lab, VIP, "a")
    a.stop()
    got = notes.read_text().split("\n")
    want = []
    for state in ("backup", "master", "fault", "backup", "master", "stop"):
        want += [state, f"INSTANCE HA_WebServer {state.upper()} 100"]
    assert sorted(got[:-1]) == sorted(want)  # each pair's two scripts run concurrently
    order = [line for line in got if line and " " not in line]
    assert order == ["backup", "master", "fault", "backup", "master", "stop"]


def test_track_file_weight(lab: VrrpLab, tmp_path: Path) -> None:
    path = tmp_path / "prio"
    path.write_text("0\n")
    track = f"vrrp_track_file tf {{\n    file {path}\n    weight 1\n}}\n"
    lab.start("b", config(instance_conf(priority=99)))
    a = lab.start("a", config(track, instance_conf(priority=100, extra="track_file {\n    tf\n}")))
    wait_sole(lab, VIP, "a", timeout=20)
    t0 = time.monotonic()
    path.write_text("-20\n")
    lab.watch.wait_for(VIP, "b", after=t0, timeout=5)
    assert "Changing effective priority from 100 to 80" in a.text()
    t1 = time.monotonic()
    path.write_text("0x0\n")
    lab.watch.wait_for(VIP, "a", after=t1, timeout=5)


def test_sync_group_moves_together(lab: VrrpLab) -> None:
    """VI_1 tracks trk0 on a; its FAULT pulls VI_2 along: b gets both VIPs."""
    dummy(lab, "a")

    def conf(priority: int, track: bool) -> str:
        extra = "track_interface {\n    trk0\n}" if track else ""
        group = "vrrp_sync_group G {\n    group {\n        VI_1\n        VI_2\n    }\n}\n"
        one = instance_conf(priority=priority, name="VI_1", vrid=18, extra=extra)
        two = instance_conf(priority=priority, name="VI_2", vrid=19, vips=(f"{VIP2}/24",))
        return config(group, one, two)

    lab.start("b", conf(99, False))
    a = lab.start("a", conf(100, True))
    wait_sole(lab, VIP, "a", timeout=20)
    wait_sole(lab, VIP2, "a", timeout=5)
    t0 = time.monotonic()
    run("ip", "link", "set", "trk0", "down", ns=lab.ns["a"])
    lab.watch.wait_for(VIP, "b", after=t0, timeout=5)
    lab.watch.wait_for(VIP2, "b", after=t0, timeout=5)
    wait_sole(lab, VIP, "b")
    wait_sole(lab, VIP2, "b")
    assert "VRRP_Group(G) Syncing instances to FAULT state" in a.text()
    t1 = time.monotonic()
    run("ip", "link", "set", "trk0", "up", ns=lab.ns["a"])
    lab.watch.wait_for(VIP, "a", after=t1, timeout=5)
    lab.watch.wait_for(VIP2, "a", after=t1, timeout=5)
