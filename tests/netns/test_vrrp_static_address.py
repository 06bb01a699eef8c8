"""static_ipaddress with a real daemon: on at start (no vrrp_instance needed, as keepalived's
VRRP process runs for static entries alone), put back when deleted from outside (``no_track``
ones left deleted), diffed by a reload, removed at stop. One daemon in a namespace.
"""

import signal
import sys
import time
from collections.abc import Iterator

import pytest
from tests.kernel.nsutil import run

from .vrrplab import VrrpLab, config, vrrp_lab

pytestmark = pytest.mark.root
STATIC = """
static_ipaddress {
    10.77.0.1/24 dev eth1
    10.77.1.1/24 dev eth1 no_track
    fd00:77::1/64 dev eth1
}
"""


@pytest.fixture
def lab() -> Iterator[VrrpLab]:
    with vrrp_lab() as network:
        yield network


def wait_addresses(lab: VrrpLab, present: set[str], absent: set[str] = frozenset(),
                   timeout: float = 5.0) -> None:  # fmt: skip
    """Until every ``present`` address is on a's eth1 and no ``absent`` one is."""
    deadline = time.monotonic() + timeout
    while True:
        words = set(lab.addresses("a").split())
        if present <= words and not absent & words:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"want {present}, not {absent}; eth1 has {sorted(words)}")
        time.sleep(0.02)


def test_static_addresses_live_with_the_daemon_and_come_back(lab: VrrpLab) -> None:
    a = lab.start("a", config(STATIC))
    wait_addresses(lab, {"10.77.0.1/24", "10.77.1.1/24", "fd00:77::1/64"})
    ns = lab.ns["a"]
    run("ip", "addr", "del", "10.77.1.1/24", "dev", "eth1", ns=ns)
    run("ip", "addr", "del", "10.77.0.1/24", "dev", "eth1", ns=ns)
    deleted = time.monotonic()
    wait_addresses(lab, {"10.77.0.1/24"}, {"10.77.1.1/24"}, timeout=2.0)
    back_s = time.monotonic() - deleted
    a.wait_log("Restoring deleted static address 10.77.0.1/24 dev eth1")
    assert "10.77.1.1" not in a.text(), "no_track: left deleted, nothing logged"
    # A reload: fd00:77::1 leaves, 10.77.2.1 comes; 10.77.0.1 stays where it is.
    (lab.tmp / "a-py-0.conf").write_text(
        config(STATIC.replace("fd00:77::1/64 dev eth1", "10.77.2.1/24 dev eth1"))
    )
    a.kill(signal.SIGHUP)
    a.wait_log("reloaded:")
    wait_addresses(lab, {"10.77.0.1/24", "10.77.2.1/24"}, {"fd00:77::1/64"})
    removals = [
        t
        for t, host, op, addr in lab.watch.events
        if (host, op, addr) == ("a", "del", "10.77.0.1") and t > deleted + back_s
    ]
    assert removals == [], "the reload left 10.77.0.1 alone"
    a.stop()
    assert a.proc.returncode == 0
    wait_addresses(lab, set(), {"10.77.0.1/24", "10.77.2.1/24"}, timeout=1.0)
    assert "Traceback" not in a.text()
    print(f"static address back {back_s * 1000:.0f} ms after its deletion")


def test_cleanup_after_sigkill_removes_static_addresses(lab: VrrpLab) -> None:
    """``pykeepalived cleanup`` (systemd's ExecStopPost) after a SIGKILL removes them too."""
    a = lab.start("a", config(STATIC))
    wait_addresses(lab, {"10.77.0.1/24", "fd00:77::1/64"})
    a.kill(signal.SIGKILL)
    a.proc.wait(timeout=10)
    out = run(sys.executable, "-m", "pykeepalived", "cleanup", "-f", str(lab.tmp / "a-py-0.conf"),
              ns=lab.ns["a"])  # fmt: skip
    assert "removed static address 10.77.0.1/24 from eth1" in out, out
    wait_addresses(lab, set(), {"10.77.0.1/24", "10.77.1.1/24", "fd00:77::1/64"}, timeout=1.0)
