"""Pid files as keepalived 2.2.7 keeps them: -p/-r/-c written with the daemon's pid (only for
the parts that run), a second start refused with "daemon is already running", a zombie file
replaced, a symlink refused, all removed after a graceful stop by SIGTERM to the -p pid."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.kernel.nsutil import Lan, run

from pykeepalived import pidfile

CONFIG = """
vrrp_instance VI_1 {
    state MASTER
    interface eth1
    virtual_router_id 52
    priority 255
    version 3
    advert_int 0.1
    virtual_ipaddress { 192.168.88.100/24 }
}
"""


def test_only_the_running_parts_own_a_file(tmp_path: Path) -> None:
    files = pidfile.PidFiles("k.pid", "v.pid", "c.pid")
    here = Path.cwd()
    both = files.for_parts(run_vrrp=True, run_checkers=True)
    assert both == [str(here / "k.pid"), str(here / "v.pid"), str(here / "c.pid")]
    assert files.for_parts(run_vrrp=True, run_checkers=False) == both[:2]  # -P
    assert files.for_parts(run_vrrp=False, run_checkers=True) == [both[0], both[2]]  # -C
    assert pidfile.PidFiles().for_parts(run_vrrp=True, run_checkers=True) == []


def test_write_running_and_zombie(tmp_path: Path) -> None:
    main, vrrp = str(tmp_path / "k.pid"), str(tmp_path / "v.pid")
    pidfile.write([main, vrrp], pid=os.getppid())
    assert Path(main).read_text() == f"{os.getppid()}\n"
    assert Path(main).stat().st_mode & 0o777 == 0o644
    assert pidfile.running_pid([main, vrrp]) == os.getppid()  # a live process: refused
    dead = subprocess.Popen(["true"])
    dead.wait()
    pidfile.write([main], pid=dead.pid)
    Path(vrrp).write_text("garbage\n")
    assert pidfile.running_pid([main, vrrp]) is None  # zombies removed
    assert not Path(main).exists()
    assert not Path(vrrp).exists()
    pidfile.write([main])  # a file holding our own pid is not another daemon
    assert pidfile.running_pid([main]) is None
    pidfile.remove([main, main])


def test_a_symlink_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "precious"
    target.write_text("keep\n")
    link = tmp_path / "k.pid"
    link.symlink_to(target)
    with pytest.raises(pidfile.PidFileError, match=r"k\.pid"):
        pidfile.write([str(link)])
    assert target.read_text() == "keep\n"


def _wait(check: "object", timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


@pytest.mark.root
def test_daemon_pid_files_and_sigterm(lan: Lan, tmp_path: Path) -> None:
    ns = lan.host("dir", "192.168.88.8/24")
    conf = tmp_path / "keepalived.conf"
    conf.write_text(CONFIG)
    k, v, c = (tmp_path / n for n in ("k.pid", "v.pid", "c.pid"))
    argv = ["ip", "netns", "exec", ns, sys.executable, "-m", "pykeepalived", "-n", "-l", "-D",
            "-f", str(conf), "-p", str(k), "-r", str(v), "-c", str(c),
            "--lvs-backend", "nftables"]  # fmt: skip
    log = tmp_path / "log"
    with log.open("wb") as out:
        proc = subprocess.Popen([*argv, "-P"], stdout=out, stderr=subprocess.STDOUT)
    try:
        assert _wait(lambda: k.exists() and v.exists()), log.read_text()
        assert k.read_text() == v.read_text() == f"{proc.pid}\n"  # ip netns exec execs
        assert not c.exists()  # -P: no checker part, no checker pid file
        assert _wait(lambda: " 192.168.88.100/" in run("ip", "-o", "addr", ns=ns))
        second = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
        assert second.returncode == 0
        assert "daemon is already running" in second.stderr
        assert k.read_text() == f"{proc.pid}\n"
        os.kill(int(k.read_text()), signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        proc.kill()
    assert not k.exists()
    assert not v.exists()
    assert " 192.168.88.100/" not in run("ip", "-o", "addr", ns=ns)
