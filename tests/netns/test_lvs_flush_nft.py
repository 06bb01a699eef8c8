"""``lvs_flush`` / ``lvs_flush_on_stop`` with the nftables data plane, a real daemon in a
namespace. For this backend "the whole LVS table" is our own two tables (``inet``/``netdev
pykeepalived``), what IPVS's table is to keepalived: the services and what the packet path
remembered (persistence and flow sets). A restart normally keeps those sets (a persistent
client stays on its server); with ``lvs_flush`` the tables are removed before the first write,
so nothing remembered survives. At stop both ways remove our tables; another table of the
ruleset is never touched.
"""

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.kernel.nsutil import Lan, run

pytestmark = pytest.mark.root

CONFIG = """
global_defs {
FLUSH}
virtual_server 192.168.88.100 80 {
    lb_algo rr
    lb_kind NAT
    persistence_timeout 300
    protocol TCP
    real_server 192.168.88.10 80 { weight 1 }
}
"""
CLIENT = "192.0.2.77"


def start(ns: str, tmp: Path, flush: str) -> tuple["subprocess.Popen[bytes]", Path]:
    """A daemon; back once its first reconcile is done (the data plane's note on persistence
    is logged right after it)."""
    n = len(list(tmp.glob("*.conf")))
    conf, log = tmp / f"{n}.conf", tmp / f"{n}.log"
    conf.write_text(CONFIG.replace("FLUSH", flush))
    argv = ["ip", "netns", "exec", ns, sys.executable, "-m", "pykeepalived", "-n", "-l",
            "-f", str(conf), "--lvs-backend", "nftables"]  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 15
    while "persistence_timeout is a source-affinity" not in log.read_text():
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise AssertionError(log.read_text())
        time.sleep(0.05)
    return proc, log


def persistence_set(ns: str) -> str:
    listing = run("nft", "-t", "list", "sets", "inet", ns=ns)
    found = re.search(r"set (\S+) \{[^}]*comment \"x=p ", listing)
    assert found is not None, listing
    return found.group(1)


def remembered(ns: str) -> bool:
    name = persistence_set(ns)
    return CLIENT in run("nft", "list", "set", "inet", "pykeepalived", name, ns=ns)


def kill(proc: "subprocess.Popen[bytes]", sig: signal.Signals) -> int:
    proc.send_signal(sig)
    return proc.wait(timeout=15)


def test_flush_drops_what_a_previous_run_left_and_stop_removes_our_tables(
    lan: Lan, tmp_path: Path
) -> None:
    ns = lan.host("dir", "192.168.88.8/24")
    run("nft", "add", "table", "inet", "other", ns=ns)
    procs = []
    try:
        proc, _ = start(ns, tmp_path, "")
        procs.append(proc)
        name = persistence_set(ns)
        run("nft", "add", "element", "inet", "pykeepalived", name, f"{{ {CLIENT} }}", ns=ns)
        kill(proc, signal.SIGKILL)  # a crash: our tables stay
        proc, _ = start(ns, tmp_path, "")
        procs.append(proc)
        assert remembered(ns), "without lvs_flush a restart keeps the persistence set"
        kill(proc, signal.SIGKILL)
        proc, log = start(ns, tmp_path, "    lvs_flush\n    lvs_flush_on_stop\n")
        procs.append(proc)
        assert "nftables: lvs_flush: the whole table flushed" in log.read_text()
        assert not remembered(ns), "lvs_flush: nothing of the previous run is left"
        assert kill(proc, signal.SIGTERM) == 0
    finally:
        for proc in procs:
            proc.kill()
            proc.wait(timeout=5)
    assert "nftables: lvs_flush_on_stop: the whole table flushed" in log.read_text()
    tables = run("nft", "list", "tables", ns=ns)
    assert "pykeepalived" not in tables
    assert "table inet other" in tables
