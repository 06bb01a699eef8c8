"""The daemon's life in a namespace: graceful stop leaves nothing of ours; after SIGKILL the
cleanup command (systemd's ExecStopPost) removes the stale VIP and our nftables tables; a
config with errors refuses to start; a bad reload keeps the running config."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.kernel.nsutil import Lan, run

pytestmark = pytest.mark.root

CONFIG = """
vrrp_instance VI_1 {
    state MASTER
    interface eth1
    virtual_router_id 51
    priority 255
    version 3
    advert_int 0.1
    virtual_ipaddress { 192.168.88.100/24 }
}
virtual_server 192.168.88.100 80 {
    delay_loop 1
    lb_algo rr
    lb_kind DR
    protocol TCP
    real_server 192.168.88.10 80 { weight 1 }
}
"""


def vip_present(ns: str) -> bool:
    return " 192.168.88.100/" in run("ip", "-4", "-o", "addr", "show", "dev", "eth1", ns=ns)


def our_tables(ns: str) -> str:
    tables = run("nft", "list", "tables", ns=ns)
    return "\n".join(line for line in tables.splitlines() if "pykeepalived" in line)


def wait(check: "object", timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def start(ns: str, conf: Path, log: Path) -> "subprocess.Popen[bytes]":
    argv = ["ip", "netns", "exec", ns, sys.executable, "-m", "pykeepalived", "-n", "-l",
            "-f", str(conf), "--lvs-backend", "nftables"]  # fmt: skip
    with log.open("wb") as out:
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)


@pytest.fixture
def director(lan: Lan, tmp_path: Path) -> tuple[str, Path]:
    ns = lan.host("dir", "192.168.88.8/24")
    conf = tmp_path / "keepalived.conf"
    conf.write_text(CONFIG)
    return ns, conf


def test_graceful_stop_leaves_nothing(director: tuple[str, Path], tmp_path: Path) -> None:
    ns, conf = director
    proc = start(ns, conf, tmp_path / "log")
    try:
        assert wait(lambda: vip_present(ns) and our_tables(ns) != "")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        proc.kill()
    assert not vip_present(ns)
    assert our_tables(ns) == ""


def test_sigkill_then_cleanup_removes_the_stale_vip_and_tables(
    director: tuple[str, Path], tmp_path: Path
) -> None:
    ns, conf = director
    proc = start(ns, conf, tmp_path / "log")
    try:
        assert wait(lambda: vip_present(ns) and our_tables(ns) != "")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    assert vip_present(ns), "SIGKILL leaves the VIP: the cleanup must remove it"
    out = run(sys.executable, "-m", "pykeepalived", "cleanup", "-f", str(conf),
              "--lvs-backend", "nftables", ns=ns)  # fmt: skip
    assert "removed VIP 192.168.88.100/24 from eth1 (VI_1)" in out
    assert not vip_present(ns)
    assert our_tables(ns) == ""


def test_next_start_removes_a_stale_vip_before_running(
    director: tuple[str, Path], tmp_path: Path
) -> None:
    ns, conf = director
    run("ip", "addr", "add", "192.168.88.100/24", "dev", "eth1", ns=ns)
    proc = start(ns, conf, tmp_path / "log")
    try:
        assert wait(lambda: "removed stale VIP" in (tmp_path / "log").read_text())
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)


def test_config_with_errors_refuses_to_start(director: tuple[str, Path], tmp_path: Path) -> None:
    ns, conf = director
    conf.write_text(CONFIG.replace("priority 255", "priority 300"))
    proc = start(ns, conf, tmp_path / "log")
    assert proc.wait(timeout=15) == 1
    log = (tmp_path / "log").read_text()
    assert "Line 6" in log
    assert "not starting" in log
    assert not vip_present(ns)


def test_bad_reload_keeps_the_running_config(director: tuple[str, Path], tmp_path: Path) -> None:
    ns, conf = director
    proc = start(ns, conf, tmp_path / "log")
    try:
        assert wait(lambda: vip_present(ns))
        conf.write_text(CONFIG.replace("lb_algo rr", "lb_algo nope"))
        os.kill(proc.pid, signal.SIGHUP)
        assert wait(lambda: "reload refused" in (tmp_path / "log").read_text())
        assert proc.poll() is None
        assert vip_present(ns)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)


def test_forcing_ipvs_on_a_kernel_without_it_is_a_clear_error(
    director: tuple[str, Path], tmp_path: Path
) -> None:
    if Path("/proc/net/ip_vs").exists():
        pytest.skip("this kernel has IPVS")
    ns, conf = director
    argv = ["ip", "netns", "exec", ns, sys.executable, "-m", "pykeepalived", "-n", "-l",
            "-f", str(conf), "--lvs-backend", "ipvs"]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 1
    assert "cannot start: LVS backend ipvs was requested but this kernel has no IPVS" in (
        done.stdout + done.stderr
    )
    assert "Traceback" not in done.stdout + done.stderr
    assert not vip_present(ns)


def test_the_start_log_names_the_backend_and_why(
    director: tuple[str, Path], tmp_path: Path
) -> None:
    ns, conf = director
    proc = start(ns, conf, tmp_path / "log")
    try:
        assert wait(lambda: "LVS data plane: nftables (" in (tmp_path / "log").read_text())
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)
