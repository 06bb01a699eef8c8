"""VRRP raw sockets carry protocol 112 between two hosts with TTL 255, multicast and unicast."""

import asyncio
import shutil
import subprocess
import time
from ipaddress import IPv4Address, IPv6Address, ip_address

import pytest
from tests.kernel.nsutil import Lan, inside

from pykeepalived.kernel.announce import PacketAnnouncer
from pykeepalived.kernel.ports import IPAddress, Received
from pykeepalived.kernel.vrrp_socket import MCAST_V4, MCAST_V6, VrrpSocket

pytestmark = pytest.mark.root


async def exchange(
    lan_a: str, lan_b: str, src_a: IPAddress, src_b: IPAddress, dst: IPAddress, group: bool
) -> Received:
    with inside(lan_b):
        receiver = VrrpSocket("eth1", src_b, group=dst if group else None)
    with inside(lan_a):
        sender = VrrpSocket("eth1", src_a, group=None)
    try:
        await asyncio.sleep(0.05)
        sender.send(b"\x31\x12\x64\x01hello", dst)
        return await asyncio.wait_for(receiver.receive(), 3)
    finally:
        sender.close()
        receiver.close()


def test_ipv4_multicast_arrives_with_ttl_255(lan: Lan) -> None:
    a = lan.host("a", "192.168.88.8/24")
    b = lan.host("b", "192.168.88.9/24")
    got = asyncio.run(
        exchange(a, b, ip_address("192.168.88.8"), ip_address("192.168.88.9"), MCAST_V4, True)
    )
    assert got.has_ip_header
    assert got.src == IPv4Address("192.168.88.8")
    assert got.data[8] == 255  # TTL in the IPv4 header
    assert got.data[9] == 112
    assert got.data[16:20] == MCAST_V4.packed
    assert got.data[20:] == b"\x31\x12\x64\x01hello"


def test_ipv4_unicast_to_a_peer(lan: Lan) -> None:
    a = lan.host("a", "192.168.88.8/24")
    b = lan.host("b", "192.168.88.9/24")
    peer = ip_address("192.168.88.9")
    got = asyncio.run(exchange(a, b, ip_address("192.168.88.8"), peer, peer, False))
    assert got.data[8] == 255
    assert got.data[16:20] == peer.packed


def test_ipv6_multicast_reports_hop_limit_and_destination(lan: Lan) -> None:
    a = lan.host("a", "fe80::8/64")
    b = lan.host("b", "fe80::9/64")
    got = asyncio.run(exchange(a, b, ip_address("fe80::8"), ip_address("fe80::9"), MCAST_V6, True))
    assert not got.has_ip_header
    assert (got.src, got.dst, got.ttl) == (IPv6Address("fe80::8"), MCAST_V6, 255)
    assert got.data == b"\x31\x12\x64\x01hello"


@pytest.mark.skipif(shutil.which("tcpdump") is None, reason="needs tcpdump")
def test_gratuitous_arp_and_na_are_on_the_wire(lan: Lan) -> None:
    a = lan.host("a", "192.168.88.8/24", "fd00::8/64")
    b = lan.host("b", "192.168.88.9/24")
    capture = subprocess.Popen(
        [
            "ip",
            "netns",
            "exec",
            b,
            "tcpdump",
            "-l",
            "-n",
            "-i",
            "eth1",
            "-c",
            "2",
            "arp or icmp6[0] == 136",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        time.sleep(1.0)
        with inside(a):
            announcer = PacketAnnouncer()
            announcer.announce("eth1", ip_address("192.168.88.100"))
            announcer.announce("eth1", ip_address("fd00::100"))
            announcer.close()
        out, _ = capture.communicate(timeout=10)
    finally:
        capture.kill()
    assert "Request who-has 192.168.88.100 (ff:ff:ff:ff:ff:ff) tell 192.168.88.100" in out
    assert "neighbor advertisement" in out
    assert "tgt is fd00::100" in out


def test_arrival_is_the_kernel_s_not_the_reader_s(lan: Lan) -> None:
    """A datagram read 0.2 s late still carries when it came in (SO_TIMESTAMPNS): the VRRP
    timers run from there, not from when a busy process got to it."""
    a = lan.host("a", "192.168.88.8/24")
    b = lan.host("b", "192.168.88.9/24")

    async def scenario() -> tuple[float, Received, float]:
        with inside(b):
            receiver = VrrpSocket("eth1", ip_address("192.168.88.9"), group=MCAST_V4)
        with inside(a):
            sender = VrrpSocket("eth1", ip_address("192.168.88.8"), group=None)
        try:
            await asyncio.sleep(0.05)
            sent = time.monotonic()
            sender.send(b"\x31\x12\x64\x01hello", MCAST_V4)
            time.sleep(0.2)  # noqa: ASYNC251 (the loop is busy: nothing is read meanwhile)
            got = await asyncio.wait_for(receiver.receive(), 3)
            return sent, got, time.monotonic()
        finally:
            sender.close()
            receiver.close()

    sent, got, read = asyncio.run(scenario())
    assert got.arrived is not None
    assert sent - 0.005 <= got.arrived <= sent + 0.05
    assert read - got.arrived >= 0.19
