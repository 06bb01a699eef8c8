"""Receive sockets opened at process start queue what the LAN says while the daemon imports:
the adopting VrrpSocket hands it over once, stamped with each arrival, and says when the
kernel had to drop some; a command that will not run VRRP opens nothing."""

import asyncio
import time
from ipaddress import ip_address

import pytest
from tests.kernel.nsutil import Lan, inside

from pykeepalived import entry
from pykeepalived.kernel.vrrp_listen import EarlyReceivers
from pykeepalived.kernel.vrrp_socket import MCAST_V4, MCAST_V6, VrrpSocket

pytestmark = pytest.mark.root

A, B = ip_address("192.168.88.8"), ip_address("192.168.88.9")
PAYLOAD = b"\x31\x12\x64\x01hello"


def test_adverts_sent_before_the_socket_is_adopted_are_handed_over_with_their_arrival(
    lan: Lan,
) -> None:
    a = lan.host("a", "192.168.88.8/24")
    b = lan.host("b", "192.168.88.9/24")

    async def scenario() -> None:
        with inside(b):
            early = EarlyReceivers.listen()
        with inside(a):
            sender = VrrpSocket("eth1", A, group=None)
        sent = []
        for _ in range(3):  # while the daemon would be importing
            sent.append(time.monotonic())
            sender.send(PAYLOAD, MCAST_V4)
            await asyncio.sleep(0.1)
        with inside(b):
            receiver = VrrpSocket("eth1", B, group=MCAST_V4, early=early)
        try:
            heard = receiver.take_early()
            taken = time.monotonic()
            assert heard is not None
            assert heard.complete
            assert heard.since <= sent[0]
            assert [r.data[20:] for r in heard.adverts] == [PAYLOAD] * 3
            assert all(r.arrived is not None for r in heard.adverts)
            arrivals = [r.arrived for r in heard.adverts if r.arrived is not None]
            # Each stamp is no earlier than its send, in order, and never later than the
            # hand-over. How much later than the send is the kernel's business: it stamps a
            # datagram when it reads it if the system-wide stamping was not switched on yet
            # (deferred work), and here stamps often read 0.1 s late, the next send.
            for when, arrived in zip(sent, arrivals, strict=True):
                assert when - 0.005 <= arrived <= taken
            assert arrivals == sorted(arrivals)
            assert receiver.take_early() is None  # once
            sender.send(PAYLOAD, MCAST_V4)  # from now on, the loop reads it
            later = await asyncio.wait_for(receiver.receive(), 3)
            assert later.data[20:] == PAYLOAD
        finally:
            early.close()
            sender.close()
            receiver.close()

    asyncio.run(scenario())


def test_ipv6_adverts_are_queued_too(lan: Lan) -> None:
    a = lan.host("a", "fe80::8/64")
    b = lan.host("b", "fe80::9/64")

    async def scenario() -> None:
        with inside(b):
            early = EarlyReceivers.listen()
        with inside(a):
            sender = VrrpSocket("eth1", ip_address("fe80::8"), group=None)
        sender.send(PAYLOAD, MCAST_V6)
        await asyncio.sleep(0.1)
        with inside(b):
            receiver = VrrpSocket("eth1", ip_address("fe80::9"), group=MCAST_V6, early=early)
        try:
            heard = receiver.take_early()
            assert heard is not None
            assert [(r.data, r.ttl, r.dst) for r in heard.adverts] == [(PAYLOAD, 255, MCAST_V6)]
        finally:
            early.close()
            sender.close()
            receiver.close()

    asyncio.run(scenario())


def test_a_queue_that_overflowed_says_so(lan: Lan) -> None:
    a = lan.host("a", "192.168.88.8/24")
    b = lan.host("b", "192.168.88.9/24")

    async def scenario() -> None:
        with inside(b):
            early = EarlyReceivers.listen(rcvbuf=1)  # the kernel's minimum: a few datagrams
        with inside(a):
            sender = VrrpSocket("eth1", A, group=None)
        for _ in range(50):
            sender.send(PAYLOAD, MCAST_V4)
        await asyncio.sleep(0.1)
        with inside(b):
            receiver = VrrpSocket("eth1", B, group=MCAST_V4, early=early)
        try:
            heard = receiver.take_early()
            assert heard is not None
            assert 0 < len(heard.adverts) < 50
            assert not heard.complete
        finally:
            early.close()
            sender.close()
            receiver.close()

    asyncio.run(scenario())


def test_another_multicast_group_is_not_adopted(lan: Lan) -> None:
    b = lan.host("b", "192.168.88.9/24")

    async def scenario() -> None:
        with inside(b):
            early = EarlyReceivers.listen()
            receiver = VrrpSocket("eth1", B, group=ip_address("224.0.0.99"), early=early)
        try:
            assert receiver.take_early() is None
            assert len(early) == 2  # eth1's IPv4 and IPv6 sockets, still there to be closed
        finally:
            early.close()
            receiver.close()
        assert len(early) == 0

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("words", "listens"),
    [
        (["-n", "-l", "-D", "-f", "/etc/k.conf", "-p", "/run/k.pid"], True),
        (["-nlD", "-f/etc/keepalived/the.conf"], True),  # a value ends a cluster: no -t, -h
        (["-P", "-f", "k.conf"], True),
        (["-t", "-f", "k.conf"], False),
        (["--config-test"], False),
        (["-C", "-f", "k.conf"], False),
        (["-nC"], False),
        (["--dump-config"], False),
        (["--version"], False),
        (["lab", "run"], False),
    ],
)
def test_only_a_command_that_runs_vrrp_listens_early(
    lan: Lan, words: list[str], listens: bool
) -> None:
    b = lan.host("b", "192.168.88.9/24")
    with inside(b):
        early = entry.listen_early(words)
    assert (early is not None) is listens
    if early is not None:
        assert len(early) == 2
        early.close()
