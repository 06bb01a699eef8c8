"""Services removed from the kernel behind the daemon's back come back (``restore_missing``).

A firewall reload (``systemctl restart nftables`` runs ``flush ruleset``) or an ``ipvsadm -C``
empties the data plane; keepalived leaves it empty until restarted. The controller looks every
``AUDIT_S`` seconds and adds back the services of the config that are missing, leaving the
ones that exist alone (an operator's drain stays). Real daemon, nftables data plane.
"""

import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.kernel.nsutil import Lan, run

from pykeepalived.lvs.controller import AUDIT_S

pytestmark = pytest.mark.root

CONFIG = """
virtual_server 192.168.88.100 80 {
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 192.168.88.10 80 { weight 1 }
}
"""


def tables(ns: str) -> str:
    return run("nft", "list", "tables", ns=ns)


def test_a_flushed_ruleset_gets_our_tables_back(lan: Lan, tmp_path: Path) -> None:
    ns = lan.host("dir", "192.168.88.8/24")
    conf, log = tmp_path / "k.conf", tmp_path / "k.log"
    conf.write_text(CONFIG)
    argv = ["ip", "netns", "exec", ns, sys.executable, "-m", "pykeepalived", "-n", "-l",
            "-f", str(conf), "--lvs-backend", "nftables"]  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 15
        while "pykeepalived" not in tables(ns):
            assert time.monotonic() < deadline, log.read_text()
            assert proc.poll() is None, log.read_text()
            time.sleep(0.1)
        run("nft", "flush", "ruleset", ns=ns)
        flushed = time.monotonic()
        while "pykeepalived" not in tables(ns):
            assert time.monotonic() - flushed < AUDIT_S + 5, log.read_text()
            time.sleep(0.1)
        back = time.monotonic() - flushed
        print(f"tables back {back:.2f} s after the flush")
        time.sleep(0.3)
        text = log.read_text()
        assert "1 virtual server(s) missing from the kernel" in text, text
        assert "192.168.88.10" in run("nft", "list", "ruleset", ns=ns)
    finally:
        proc.terminate()
        assert proc.wait(timeout=15) == 0
    assert "Traceback" not in log.read_text()
