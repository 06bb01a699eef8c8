"""no_accept / vrrp_strict on the wire: a MASTER without accept mode holds the VIP but drops
traffic addressed to it (keepalived's nftables drop rule); with accept mode it answers.

A pykeepalived director ``a`` alone on the bridge becomes MASTER; the observer ``c`` pings the
VIP and opens a TCP connection to a port nobody listens on: answered means an echo reply and a
quick RST ("refused"), dropped means silence (timeout). Our table ``inet pykeepalived_vrrp``
exists while the VIP is held and is gone after a graceful stop.
"""

import os
import signal
import socket
import struct
import time
from collections.abc import Iterator

import pytest
from tests.kernel.nsutil import inside, run

from pykeepalived.vrrp.node_firewall_guard import EVERY_S

from .vrrplab import VIP, VrrpLab, config, instance_conf, vrrp_lab, wait_sole

pytestmark = pytest.mark.root
TABLE = "pykeepalived_vrrp"


@pytest.fixture
def lab() -> Iterator[VrrpLab]:
    with vrrp_lab() as network:
        yield network


def pings(lab: VrrpLab, address: str, timeout: float = 1.0) -> bool:
    """One ICMP echo from ``c`` (a raw socket: the machine has no ping binary)."""
    with inside(lab.ns["c"]):
        sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    ident = os.getpid() & 0xFFFF
    body = struct.pack("!BBHHH", 8, 0, 0, ident, 1) + b"pykeepalived"
    total = sum(struct.unpack(f"!{len(body) // 2}H", body))
    total = (total & 0xFFFF) + (total >> 16)
    body = body[:2] + struct.pack("!H", ~total & 0xFFFF) + body[4:]
    try:
        sock.sendto(body, (address, 0))
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            try:
                data, (src, _) = sock.recvfrom(2048)
            except TimeoutError:
                return False
            icmp = data[(data[0] & 15) * 4 :]
            if src == address and icmp[0] == 0 and icmp[4:6] == struct.pack("!H", ident):
                return True
        return False
    finally:
        sock.close()


def tcp_outcome(lab: VrrpLab, address: str, port: int = 9) -> str:
    with inside(lab.ns["c"]):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(1.0)
    try:
        sock.connect((address, port))
    except ConnectionRefusedError:
        return "refused"
    except TimeoutError:
        return "timeout"
    finally:
        sock.close()
    return "connected"


def has_table(lab: VrrpLab) -> bool:
    return TABLE in run("nft", "list", "tables", ns=lab.ns["a"])


@pytest.mark.parametrize(
    ("extra", "global_defs", "answered"),
    [("no_accept", "", False), ("accept", "", True), ("", "    vrrp_strict\n", False)],
    ids=["no_accept", "accept", "vrrp_strict"],
)
def test_master_vip_traffic(lab: VrrpLab, extra: str, global_defs: str, answered: bool) -> None:
    conf = config(instance_conf(priority=100, state="BACKUP", extra=extra),
                  global_defs=global_defs)  # fmt: skip
    a = lab.start("a", conf)
    wait_sole(lab, VIP, "a", timeout=20)
    assert pings(lab, "192.168.88.8")  # the director's own address always answers
    assert pings(lab, VIP) is answered
    assert tcp_outcome(lab, VIP) == ("refused" if answered else "timeout")
    assert has_table(lab) is not answered
    if not answered:
        listing = run("nft", "list", "table", "inet", TABLE, ns=lab.ns["a"])
        assert VIP in listing
        assert "setting firewall drop rule" in a.text()
    a.kill(signal.SIGTERM)
    a.proc.wait(timeout=10)
    assert not has_table(lab)
    assert "Traceback" not in a.text()


def test_a_flushed_ruleset_gets_the_vip_firewall_back(lab: VrrpLab) -> None:
    """A firewall reload (``nft flush ruleset``) takes our table; it comes back with the
    VIP in it within ``EVERY_S`` and the VIP is dropped again (``node_firewall_guard``)."""
    a = lab.start("a", config(instance_conf(priority=100, state="BACKUP", extra="no_accept")))
    wait_sole(lab, VIP, "a", timeout=20)
    assert not pings(lab, VIP)
    run("nft", "flush", "ruleset", ns=lab.ns["a"])
    assert pings(lab, VIP)  # nothing drops it now
    flushed = time.monotonic()
    while not has_table(lab):
        assert time.monotonic() - flushed < EVERY_S + 5, a.text()
        time.sleep(0.1)
    print(f"VIP firewall back {time.monotonic() - flushed:.2f} s after the flush")
    assert VIP in run("nft", "list", "table", "inet", TABLE, ns=lab.ns["a"])
    assert not pings(lab, VIP)
    a.wait_log("VIP firewall: our nft table was removed by something else")
    assert "Traceback" not in a.text()
