"""Unicast options with a real daemon: check_unicast_src drops (and counts) a forged advert
from a host that is not a unicast_peer, keepalived's default accepts it; unicast_ttl sets the
TTL of the adverts on the wire.

``a`` runs pykeepalived, unicast to ``b`` (nobody there), and becomes MASTER; ``c`` sends it
a VRRPv3 advert with priority 200 from its own address, over a raw socket.
"""

import socket
import time
from collections.abc import Iterator
from ipaddress import IPv4Address

import pytest
from tests.kernel.nsutil import inside

from pykeepalived.vrrp.packet import Advert, Family, encode

from .vrrplab import ADDRESSES, VIP, VrrpLab, config, instance_conf, vrrp_lab, wait_sole

pytestmark = pytest.mark.root


@pytest.fixture
def lab() -> Iterator[VrrpLab]:
    with vrrp_lab() as network:
        yield network


def forge_from_c(lab: VrrpLab, priority: int = 200) -> None:
    src, dst = IPv4Address(ADDRESSES["c"]), IPv4Address(ADDRESSES["a"])
    advert = Advert(version=3, vrid=18, priority=priority, advert_int_cs=5, family=Family.IPV4,
                    addresses=(IPv4Address(VIP),))  # fmt: skip
    with inside(lab.ns["c"]):
        sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, 112)
    with sock:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, 255)
        for _ in range(3):
            sock.sendto(encode(advert, src=src, dst=dst), (str(dst), 0))
            time.sleep(0.02)


def adverts_ttl(lab: VrrpLab, timeout: float = 2.0) -> int:
    """The IP TTL of the next VRRP packet seen on b's link."""
    with inside(lab.ns["b"]):
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
    with sock:
        sock.bind(("eth1", 0))
        sock.settimeout(timeout)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ip = sock.recv(2048)[14:]
            if ip[9] == 112:
                return ip[8]
    raise TimeoutError("no VRRP packet seen")


@pytest.mark.parametrize("checked", [True, False], ids=["check_unicast_src", "default"])
def test_non_peer_advert(lab: VrrpLab, checked: bool) -> None:
    extra = "unicast_ttl 64\n" + ("check_unicast_src\n" if checked else "")
    unicast = (ADDRESSES["a"], ADDRESSES["b"])
    a = lab.start("a", config(instance_conf(priority=100, unicast=unicast, extra=extra)))
    wait_sole(lab, VIP, "a", timeout=20)
    assert adverts_ttl(lab) == 64
    forge_from_c(lab)
    time.sleep(0.3)
    if checked:
        a.wait_log("unicast source address 192.168.88.2 not a unicast peer")
        assert "bad VRRP packet (source, #1)" in a.text()
        assert lab.watch.holders(VIP) == {"a"}
        assert "Entering BACKUP STATE" not in a.text().split("Entering MASTER STATE", 1)[1]
    else:
        a.wait_log("Master received advert from 192.168.88.2 with higher priority 200")
        a.wait_log("Entering BACKUP STATE", count=2)
    assert "Traceback" not in a.text()
