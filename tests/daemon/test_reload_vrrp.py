"""SIGHUP reloads VRRP without a flap: a master whose instance keeps its identity (VRID,
interface, family) stays MASTER with its VIP while a new VIP is added and its priority
changes; the backup never sees a gap long enough to take over. Both directors are reloaded
together, as an operator does: adverts must list the same VIPs on both (keepalived drops an
advert whose address list differs unless skip_check_adv_addr)."""

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.kernel.nsutil import Lan, run

pytestmark = pytest.mark.root

CONFIG = """
vrrp_instance VI_1 {{
    state MASTER
    interface eth1
    virtual_router_id 51
    priority {priority}
    version 3
    advert_int 0.2
    virtual_ipaddress {{
{vips}
    }}
}}
"""


def conf(priority: int, *vips: str) -> str:
    return CONFIG.format(priority=priority, vips="\n".join(f"        {v}" for v in vips))


def addresses(ns: str) -> str:
    return run("ip", "-4", "-o", "addr", "show", "dev", "eth1", ns=ns)


def wait(check: "object", timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def start(ns: str, path: Path, log: Path) -> "subprocess.Popen[bytes]":
    argv = ["ip", "netns", "exec", ns, sys.executable, "-m", "pykeepalived", "-n", "-l", "-P",
            "-f", str(path)]  # fmt: skip
    with log.open("wb") as out:
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)


def test_reload_adds_a_vip_and_changes_priority_without_a_flap(lan: Lan, tmp_path: Path) -> None:
    master_ns = lan.host("a", "192.168.88.8/24")
    backup_ns = lan.host("b", "192.168.88.9/24")
    master_conf, backup_conf = tmp_path / "a.conf", tmp_path / "b.conf"
    master_conf.write_text(conf(200, "192.168.88.100/24"))
    backup_conf.write_text(conf(100, "192.168.88.100/24"))
    master_log, backup_log = tmp_path / "a.log", tmp_path / "b.log"
    master = start(master_ns, master_conf, master_log)
    time.sleep(0.5)
    backup = start(backup_ns, backup_conf, backup_log)
    try:
        assert wait(lambda: " 192.168.88.100/" in addresses(master_ns))
        assert wait(lambda: "Entering BACKUP STATE" in backup_log.read_text())
        time.sleep(1.0)
        before = backup_log.read_text().count("Entering MASTER STATE")
        master_conf.write_text(conf(210, "192.168.88.100/24", "192.168.88.101/24"))
        backup_conf.write_text(conf(100, "192.168.88.100/24", "192.168.88.101/24"))
        master.send_signal(signal.SIGHUP)
        backup.send_signal(signal.SIGHUP)
        assert wait(lambda: " 192.168.88.101/" in addresses(master_ns)), master_log.read_text()
        time.sleep(1.0)  # ten advert intervals: a flap would show by now
        log = master_log.read_text()
        assert "VRRP: 1 instance(s) kept their state" in log
        assert log.count("Entering MASTER STATE") == 1, log
        assert " 192.168.88.100/" in addresses(master_ns)
        assert backup_log.read_text().count("Entering MASTER STATE") == before
        master_conf.write_text(conf(210, "192.168.88.101/24"))
        backup_conf.write_text(conf(100, "192.168.88.101/24"))
        master.send_signal(signal.SIGHUP)
        backup.send_signal(signal.SIGHUP)
        assert wait(lambda: " 192.168.88.100/" not in addresses(master_ns))
        assert " 192.168.88.101/" in addresses(master_ns)
        time.sleep(1.0)
        assert master_log.read_text().count("Entering MASTER STATE") == 1
        assert backup_log.read_text().count("Entering MASTER STATE") == before
        assert "VRRP: 1 instance(s) kept their state" in backup_log.read_text()
    finally:
        for proc in (master, backup):
            proc.send_signal(signal.SIGTERM)
        for proc in (master, backup):
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
