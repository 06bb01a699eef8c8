"""vrrp_track_process in real daemons: the master tracks a process this test started; killed,
the VIP moves to the peer (weight 0: FAULT); started again, it comes back.

Two pykeepalived directors (``vrrplab``), VRRPv3 with advert_int 0.05. Processes are global,
so the tracked one is ``sleep 300`` run under a unique argv[0]; each daemon runs under
``ip netns exec``, where the kernel refuses the process connector, so this is the /proc
polling fallback (1 s) at work; ``tests/kernel/test_proc_watch.py`` covers the events. A
reload that changes only the vrrp_track_process block takes effect too.
"""

import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator

import pytest

from .vrrplab import VIP, VrrpLab, config, instance_conf, vrrp_lab, wait_sole

pytestmark = pytest.mark.root
SLEEP = shutil.which("sleep") or "/bin/sleep"


@pytest.fixture
def lab() -> Iterator[VrrpLab]:
    with vrrp_lab() as network:
        yield network


@pytest.fixture
def procs() -> Iterator[list["subprocess.Popen[bytes]"]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for p in started:
        p.kill()
        p.wait()


def test_killed_process_faults_the_master_and_its_return_brings_the_vip_back(
    lab: VrrpLab, procs: list["subprocess.Popen[bytes]"]
) -> None:
    token = "pk-tp-" + secrets.token_hex(4)

    def start_tracked() -> None:
        procs.append(subprocess.Popen([token, "300"], executable=SLEEP, stdin=subprocess.DEVNULL))

    start_tracked()
    track = f"vrrp_track_process tp {{\n    process {token} 300\n}}\n"
    extra = "track_process {\n    tp\n}"
    lab.start("b", config(instance_conf(priority=99)))
    a = lab.start("a", config(track, instance_conf(priority=100, extra=extra)))
    wait_sole(lab, VIP, "a", timeout=20)
    assert "Quorum gained for tracked process tp" in a.text()
    t0 = time.monotonic()
    procs[0].kill()
    procs[0].wait()
    lab.watch.wait_for(VIP, "b", after=t0, timeout=5)  # a 1 s poll, then FAULT
    moved = time.monotonic() - t0
    wait_sole(lab, VIP, "b")
    a.wait_log("Quorum lost for tracked process tp")
    a.wait_log("Entering FAULT STATE")
    t1 = time.monotonic()
    start_tracked()
    lab.watch.wait_for(VIP, "a", after=t1, timeout=5)
    back = time.monotonic() - t1
    wait_sole(lab, VIP, "a")
    assert a.text().count("Quorum gained for tracked process tp") == 2
    assert "polling /proc" in a.text()  # the connector is refused in a network namespace
    print(f"VIP on b {moved:.2f} s after the kill, back on a {back:.2f} s after the start")
    # a reload that changes the vrrp_track_process alone reaches the tracker: quorum 2 of 1
    conf_path = a.log.with_suffix(".conf")
    conf_path.write_text(conf_path.read_text().replace(" 300\n", " 300\n    quorum 2\n", 1))
    t2 = time.monotonic()
    a.kill(signal.SIGHUP)
    lab.watch.wait_for(VIP, "b", after=t2, timeout=10)
