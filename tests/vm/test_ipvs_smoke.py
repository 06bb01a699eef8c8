"""The IPVS path works end to end: ipvsadm, pyroute2's IPVS socket, and keepalived side by side.

Marked ``ipvs``: on a host without IPVS these run inside the QEMU VM (tests/vm/ipvs_pytest.py).
Each test works in a network namespace of its own (IPVS tables are per namespace), so nothing
touches the init namespace, and a failed test leaves nothing behind for the next one.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from socket import IPPROTO_TCP, IPPROTO_UDP
from typing import Any

import pyroute2.netns
import pytest
from pyroute2 import IPVS, IPVSDest, IPVSService

pytestmark = [pytest.mark.ipvs, pytest.mark.root]

KEEPALIVED = Path("/usr/sbin/keepalived")


def sh(*argv: str, netns: str | None = None, check: bool = True) -> str:
    prefix = ["ip", "netns", "exec", netns] if netns else []
    done = subprocess.run([*prefix, *argv], capture_output=True, text=True, timeout=60, check=False)
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(argv)}: exit {done.returncode}: {done.stderr.strip()}")
    return done.stdout


@pytest.fixture
def netns() -> Iterator[str]:
    name = f"ipvs-{uuid.uuid4().hex[:8]}"
    sh("ip", "netns", "add", name)
    sh("ip", "link", "set", "lo", "up", netns=name)
    try:
        yield name
    finally:
        sh("ip", "netns", "del", name, check=False)


@contextlib.contextmanager
def ipvs_in(netns: str) -> Iterator[Any]:
    """pyroute2's IPVS socket in ``netns``, entered with setns.

    Not ``IPVS(netns=...)``: with pyroute2 0.9.7, a socket opened that way adds services but
    every ``dest("add")`` answers EINVAL (seen on Debian's 6.1 kernel), while the same calls
    succeed on a socket created inside the namespace.
    """
    pyroute2.netns.pushns(netns)
    try:
        with IPVS() as ipvs:
            yield ipvs
    finally:
        pyroute2.netns.popns()


def ipvsadm_rules(netns: str) -> list[str]:
    """``ipvsadm -Sn``: the table as the commands that would rebuild it, sorted."""
    return sorted(line for line in sh("ipvsadm", "-Sn", netns=netns).splitlines() if line)


def pyroute2_table(netns: str) -> dict[tuple[int, str, int], dict[str, Any]]:
    """The table read back through pyroute2: (protocol, vip, port) -> scheduler and dests.

    Read the raw attributes: ``IPVSDest.from_message`` starts from the class defaults and maps
    only some attributes back, so its ``fwd_method`` is always the default (3, direct routing).
    """
    table: dict[tuple[int, str, int], dict[str, Any]] = {}
    with ipvs_in(netns) as ipvs:
        for msg in ipvs.service("dump"):
            svc = IPVSService.from_message(msg)
            dests = {}
            for dmsg in ipvs.dest("dump", service=svc):
                d = dmsg.get("IPVS_CMD_ATTR_DEST")
                addr_port = (d.get("IPVS_DEST_ATTR_ADDR"), d.get("IPVS_DEST_ATTR_PORT"))
                dests[addr_port] = (
                    d.get("IPVS_DEST_ATTR_WEIGHT"),
                    d.get("IPVS_DEST_ATTR_FWD_METHOD"),
                )
            s = msg.get("IPVS_CMD_ATTR_SERVICE")
            key = (
                s.get("IPVS_SVC_ATTR_PROTOCOL"),
                s.get("IPVS_SVC_ATTR_ADDR"),
                s.get("IPVS_SVC_ATTR_PORT"),
            )
            table[key] = {"sched": s.get("IPVS_SVC_ATTR_SCHED_NAME"), "dests": dests}
    return table


def test_proc_net_ip_vs_is_there() -> None:
    text = Path("/proc/net/ip_vs").read_text()
    assert text.startswith("IP Virtual Server version")


def test_ipvsadm_table_reads_back_through_pyroute2(netns: str) -> None:
    sh("ipvsadm", "-A", "-t", "192.0.2.10:80", "-s", "wrr", netns=netns)
    sh("ipvsadm", "-a", "-t", "192.0.2.10:80", "-r", "10.0.0.2:8080", "-m", "-w", "3", netns=netns)
    sh("ipvsadm", "-a", "-t", "192.0.2.10:80", "-r", "10.0.0.3:8080", "-m", "-w", "1", netns=netns)
    sh("ipvsadm", "-A", "-u", "192.0.2.10:53", "-s", "sed", netns=netns)  # sed: autoloaded

    assert ipvsadm_rules(netns) == sorted(
        [
            "-A -t 192.0.2.10:80 -s wrr",
            "-a -t 192.0.2.10:80 -r 10.0.0.2:8080 -m -w 3",
            "-a -t 192.0.2.10:80 -r 10.0.0.3:8080 -m -w 1",
            "-A -u 192.0.2.10:53 -s sed",
        ]
    )
    masq = 0  # IP_VS_CONN_F_MASQ
    assert pyroute2_table(netns) == {
        (IPPROTO_TCP, "192.0.2.10", 80): {
            "sched": "wrr",
            "dests": {("10.0.0.2", 8080): (3, masq), ("10.0.0.3", 8080): (1, masq)},
        },
        (IPPROTO_UDP, "192.0.2.10", 53): {"sched": "sed", "dests": {}},
    }


def test_pyroute2_table_reads_back_through_ipvsadm(netns: str) -> None:
    svc = IPVSService(addr="198.51.100.1", port=443, protocol=IPPROTO_TCP, sched_name="rr")
    with ipvs_in(netns) as ipvs:
        ipvs.service("add", service=svc)
        ipvs.dest("add", service=svc, dest=IPVSDest(addr="10.1.0.1", port=443, weight=5))
        ipvs.dest("add", service=svc, dest=IPVSDest(addr="10.1.0.2", port=443, weight=1))
        # "set" changes in place; pyroute2's "update" verb would send a delete.
        ipvs.dest("set", service=svc, dest=IPVSDest(addr="10.1.0.2", port=443, weight=7))
        ipvs.service(
            "set",
            service=IPVSService(
                addr="198.51.100.1", port=443, protocol=IPPROTO_TCP, sched_name="wlc"
            ),
        )
    # pyroute2's IPVSDest defaults to fwd_method 3 (direct routing): "-g" in ipvsadm's words.
    assert ipvsadm_rules(netns) == sorted(
        [
            "-A -t 198.51.100.1:443 -s wlc",
            "-a -t 198.51.100.1:443 -r 10.1.0.1:443 -g -w 5",
            "-a -t 198.51.100.1:443 -r 10.1.0.2:443 -g -w 7",
        ]
    )
    with ipvs_in(netns) as ipvs:
        ipvs.service("del", service=svc)
    assert ipvsadm_rules(netns) == []


KEEPALIVED_CONF = """
global_defs {
    router_id ipvs-vm-smoke
}
virtual_server 192.0.2.20 80 {
    delay_loop 2
    lb_algo wlc
    lb_kind NAT
    protocol TCP
    real_server 10.2.0.1 80 {
        weight 2
    }
    real_server 10.2.0.2 80 {
        weight 4
    }
}
"""


@pytest.mark.skipif(not KEEPALIVED.exists(), reason="Debian's keepalived is not installed")
def test_keepalived_programs_ipvs_in_a_netns(netns: str, tmp_path: Path) -> None:
    """Debian's keepalived runs here and its table is readable: the side-by-side path."""
    conf = tmp_path / "keepalived.conf"
    conf.write_text(KEEPALIVED_CONF)
    argv = ["ip", "netns", "exec", netns, str(KEEPALIVED), "--dont-fork", "--log-console"]
    argv += ["--check", "-f", str(conf), "-p", str(tmp_path / "k.pid")]
    argv += ["-c", str(tmp_path / "c.pid"), "-r", str(tmp_path / "v.pid")]
    log = (tmp_path / "keepalived.log").open("w")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    expected = sorted(
        [
            "-A -t 192.0.2.20:80 -s wlc",
            "-a -t 192.0.2.20:80 -r 10.2.0.1:80 -m -w 2",
            "-a -t 192.0.2.20:80 -r 10.2.0.2:80 -m -w 4",
        ]
    )
    try:
        deadline = time.monotonic() + 60
        while ipvsadm_rules(netns) != expected and time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "keepalived.log").read_text()
            time.sleep(0.5)
        assert ipvsadm_rules(netns) == expected, (tmp_path / "keepalived.log").read_text()
        listing = sh("ipvsadm", "-Ln", netns=netns)
        assert "TCP  192.0.2.20:80 wlc" in listing
        assert pyroute2_table(netns)[(IPPROTO_TCP, "192.0.2.20", 80)]["dests"] == {
            ("10.2.0.1", 80): (2, 0),
            ("10.2.0.2", 80): (4, 0),
        }
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()
    # keepalived removes its virtual servers when it stops.
    assert ipvsadm_rules(netns) == []


def test_ipvsadm_is_on_path() -> None:
    assert shutil.which("ipvsadm") is not None
