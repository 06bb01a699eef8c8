"""global_defs' startup_script / shutdown_script with a real daemon (VRRPv3, advert_int 0.05).

keepalived (core/main.c) runs the startup script before anything starts and waits for it (up
to ``startup_script_timeout``), and the shutdown script once VRRP and the checkers have
stopped (up to ``shutdown_script_timeout``); a failed or killed script does not stop the start
or the stop. The scripts record what they saw: who ran them and eth1's addresses (the VIP must
not be there: not yet, or no more).
"""

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .vrrplab import VIP, VrrpLab, config, instance_conf, vrrp_lab, wait_sole

pytestmark = pytest.mark.root


@pytest.fixture
def lab() -> Iterator[VrrpLab]:
    with vrrp_lab() as network:
        yield network


def script(lab: VrrpLab, name: str, body: str) -> Path:
    """An executable in a directory everyone may read, writing to one everyone may write."""
    out = lab.tmp / "out"
    out.mkdir(exist_ok=True)
    out.chmod(0o777)
    lab.tmp.chmod(0o755)
    path = lab.tmp / name
    path.write_text(f"#!/bin/sh\n{body.replace('OUT', str(out))}\n")
    path.chmod(0o755)
    return path


def test_startup_runs_first_as_its_user_and_a_hung_shutdown_script_is_stopped(
    lab: VrrpLab,
) -> None:
    start = script(lab, "start.sh", "sleep 0.3; { id -un; ip -o addr show dev eth1; } > OUT/start")
    hang = "\n".join(["ip -o addr show dev eth1 > OUT/stop",
                      "trap 'echo term > OUT/term; exit 0' TERM",
                      "sleep 30 & echo $! > OUT/pid", "wait"])  # fmt: skip
    stop = script(lab, "stop.sh", hang)
    defs = (f'    startup_script "{start}" nobody\n'
            f"    shutdown_script {stop}\n    shutdown_script_timeout 1\n")  # fmt: skip
    a = lab.start("a", config(instance_conf(priority=100), global_defs=defs))
    wait_sole(lab, VIP, "a")
    seen = (lab.tmp / "out" / "start").read_text()
    assert seen.splitlines()[0] == "nobody", seen
    assert VIP not in seen, "the startup script ran before VRRP started"
    text = a.text()
    assert text.index("startup script succeeded") < text.index("Entering MASTER STATE")
    began = time.monotonic()
    a.kill(signal.SIGTERM)
    a.proc.wait(timeout=10)
    took = time.monotonic() - began
    assert a.proc.returncode == 0
    assert VIP not in (lab.tmp / "out" / "stop").read_text(), "ran after VRRP had stopped"
    assert "timed out after 1.0 s; killed" in a.text()
    assert (lab.tmp / "out" / "term").exists(), "SIGTERM first, as keepalived"
    assert 1.0 <= took < 5.0, f"the stop waited {took:.2f} s for the shutdown script"
    child = Path("/proc") / (lab.tmp / "out" / "pid").read_text().strip()
    deadline = time.monotonic() + 2
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not _alive(child), "the script's own child was killed too"


def test_a_failing_startup_script_does_not_stop_the_start(lab: VrrpLab) -> None:
    start = script(lab, "start.sh", "exit 3")
    stop = script(lab, "stop.sh", "ip -o addr show dev eth1 > OUT/stop")
    defs = f"    startup_script {start}\n    shutdown_script {stop}\n"
    a = lab.start("a", config(instance_conf(priority=100), global_defs=defs))
    wait_sole(lab, VIP, "a")
    assert "exited with 3" in a.text()
    a.stop()
    assert a.proc.returncode == 0
    assert "shutdown script succeeded" in a.text()
    assert (lab.tmp / "out" / "stop").exists()


def test_a_stop_during_the_startup_script_starts_nothing(lab: VrrpLab) -> None:
    start = script(lab, "start.sh", "sleep 0.5")
    stop = script(lab, "stop.sh", "touch OUT/stop")
    defs = f"    startup_script {start}\n    shutdown_script {stop}\n"
    a = lab.start("a", config(instance_conf(priority=255), global_defs=defs))  # MASTER at once
    a.wait_log("Running startup script")
    a.kill(signal.SIGTERM)
    a.proc.wait(timeout=10)
    assert a.proc.returncode == 0
    assert lab.watch.holders(VIP) == set()
    assert not [e for e in lab.watch.events if e[3] == VIP], "the VIP never came"
    assert "Entering" not in a.text()
    assert (lab.tmp / "out" / "stop").exists(), "the shutdown script still runs"


def _alive(proc: Path) -> bool:
    """Running, not a zombie waiting for init to reap it (the script's parent is gone)."""
    try:
        return (proc / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
