"""lvs_sync_daemon follows VRRP (in the IPVS test VM): a MASTER instance runs the master
sync daemon with keepalived's syncid (the VRID), a graceful stop stops it; lvs_timeouts are
set at start."""

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.kernel.nsutil import Lan, run

pytestmark = [pytest.mark.ipvs, pytest.mark.root]

CONFIG = """
global_defs {
    lvs_sync_daemon eth1 VI_1
    lvs_timeouts tcp 1234 tcpfin 56 udp 78
}
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
    lb_algo rr
    lb_kind DR
    protocol TCP
    real_server 192.168.88.10 80 { weight 1 }
}
"""


def daemons(ns: str) -> str:
    return run("ipvsadm", "-L", "--daemon", ns=ns, check=False)


def test_master_sync_daemon_runs_while_master(lan: Lan, tmp_path: Path) -> None:
    ns = lan.host("dir", "192.168.88.8/24")
    conf = tmp_path / "keepalived.conf"
    conf.write_text(CONFIG)
    argv = ["ip", "netns", "exec", ns, sys.executable, "-m", "pykeepalived", "-n", "-l",
            "-f", str(conf)]  # fmt: skip
    with (tmp_path / "log").open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while "master sync daemon" not in daemons(ns) and time.monotonic() < deadline:
            time.sleep(0.2)
        shown = daemons(ns)
        assert "master sync daemon (mcast=eth1, syncid=51" in shown, (tmp_path / "log").read_text()
        timeouts = run("ipvsadm", "-L", "--timeout", ns=ns)
        assert "Timeout (tcp tcpfin udp): 1234 56 78" in timeouts
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=120) == 0
        assert "sync daemon" not in daemons(ns)
    finally:
        proc.kill()
