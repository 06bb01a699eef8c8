"""The driver's receive path without root: fake ports, real decoding, state untouched by junk.

``VrrpNode._on_datagram`` is where bytes off the socket meet the cores: every refusal must be
counted by reason and change nothing; nothing may raise out of it. A hypothesis run throws
random and mutated datagrams at it (``NODE_FUZZ_EXAMPLES``, default 2,000; the issue's
100,000 run of the codec itself is ``test_packet_fuzz``).
"""

import asyncio
import os
from collections.abc import AsyncIterator
from ipaddress import IPv4Address, ip_address

from hypothesis import given, settings
from hypothesis import strategies as st

from pykeepalived.clock import FakeClock
from pykeepalived.config.loader import load
from pykeepalived.kernel.ports import (
    EarlyReceived,
    IPAddress,
    IPInterface,
    LinkState,
    Received,
    VipSpec,
)
from pykeepalived.notify import ScriptRunner
from pykeepalived.vrrp.node import VrrpNode, VrrpPorts
from pykeepalived.vrrp.packet import Advert, AuthType, Family, encode, pass_auth_data
from pykeepalived.vrrp.states import State

CONF = """
vrrp_instance HA_WebServer {
    state MASTER
    interface eth1
    virtual_router_id 18
    priority 100
    advert_int 1
    authentication {
        auth_type PASS
        auth_pass 123456
    }
    virtual_ipaddress {
        192.168.88.100/24
    }
}
"""
GROUP = IPv4Address("224.0.0.18")
PEER = IPv4Address("192.168.88.2")


class FakeTransport:
    def send(self, payload: bytes, dst: IPAddress, *, ttl: int = 255) -> None:
        pass

    async def receive(self) -> Received:
        await asyncio.Event().wait()
        raise AssertionError

    def take_early(self) -> EarlyReceived | None:
        return None

    def follow_interface(self) -> bool:
        return False

    def close(self) -> None:
        pass


class FakeAddresses:
    async def add(self, vip: VipSpec) -> bool:
        return True

    async def remove(self, vip: VipSpec) -> bool:
        return False

    async def addresses(self, ifname: str) -> set[IPInterface]:
        return set()


class FakeLinks:
    async def is_up(self, ifname: str) -> bool:
        return True

    async def watch(self) -> AsyncIterator[LinkState]:
        await asyncio.Event().wait()
        yield LinkState(ifname="eth1", up=True)  # pragma: no cover


class FakeAnnouncer:
    def announce(self, ifname: str, address: IPAddress) -> None:
        pass


async def _primary(ifname: str, family: int) -> IPAddress:
    return ip_address("192.168.88.8")


def make_node() -> VrrpNode:
    result = load("test.conf", text=CONF)
    assert result.ok, result.diagnostics
    assert result.config is not None
    ports = VrrpPorts(
        addresses=FakeAddresses(),
        announcer=FakeAnnouncer(),
        links=FakeLinks(),
        open_transport=lambda ifname, src, group: FakeTransport(),
        primary_address=_primary,
        scripts=ScriptRunner(),
        clock=FakeClock(),
    )
    return VrrpNode(result.config, ports)


def ipv4(payload: bytes, *, ttl: int = 255, src: IPv4Address = PEER) -> bytes:
    total = 20 + len(payload)
    header = bytes([0x45, 0, total >> 8, total & 0xFF, 0, 0, 0, 0, ttl, 112, 0, 0])
    return header + src.packed + GROUP.packed + payload


def advert(**changes: object) -> bytes:
    fields: dict[str, object] = {
        "version": 2,
        "vrid": 18,
        "priority": 254,
        "advert_int_cs": 100,
        "family": Family.IPV4,
        "addresses": (IPv4Address("192.168.88.100"),),
        "auth_type": AuthType.PASS,
        "auth_data": pass_auth_data("123456"),
    }
    fields.update(changes)
    return encode(Advert(**fields), src=PEER, dst=GROUP)  # type: ignore[arg-type]


async def started() -> tuple[VrrpNode, tuple[str, int, IPAddress, bool]]:
    node = make_node()
    await node.build()
    node._open_sockets()
    key = next(iter(node._sockets))
    async with node._lock:
        for unit in node._units.values():
            await node._perform(unit.start(node.ports.clock.now()))
    return node, key


def rx(data: bytes) -> Received:
    return Received(data=data, src=PEER, dst=None, ttl=None, has_ip_header=True)


def test_each_forgery_is_counted_by_reason_and_changes_nothing() -> None:
    async def scenario() -> None:
        node, key = await started()
        core = node._cores["HA_WebServer"]
        state, timer = core.state, core.get_timer()
        good = advert()
        bad_sum = bytearray(good)
        bad_sum[6] ^= 0xFF
        forged = {
            "auth": ipv4(advert(auth_data=pass_auth_data("654321"))),
            "vrid": ipv4(advert(vrid=19)),
            "ttl": ipv4(good, ttl=254),
            "checksum": ipv4(bytes(bad_sum)),
            "length": ipv4(good[:12]),
            "interval": ipv4(advert(advert_int_cs=200)),
        }
        for reason, data in forged.items():
            await node._on_datagram(key, rx(data))
            assert node.errors[reason] == 1, (reason, node.errors)
        assert (core.state, core.get_timer()) == (state, timer)
        await node._on_datagram(key, rx(ipv4(good)))  # the control: heard
        assert core.master_ip == PEER
        assert core.state is State.BACKUP

    asyncio.run(scenario())


@settings(max_examples=int(os.environ.get("NODE_FUZZ_EXAMPLES", "2000")), deadline=None)
@given(
    st.one_of(
        st.binary(max_size=80),
        st.builds(
            lambda data, pos, value: data[:pos] + bytes([value]) + data[pos + 1 :],
            st.just(ipv4(advert())),
            st.integers(0, 47),
            st.integers(0, 255),
        ),
        st.builds(lambda n: ipv4(advert())[:n], st.integers(0, 48)),
    )
)
def test_receive_path_never_raises(data: bytes) -> None:
    async def scenario() -> None:
        node, key = await started()
        await node._on_datagram(key, rx(data))
        await node._on_datagram(
            key, Received(data=data, src=PEER, dst=GROUP, ttl=255, has_ip_header=False)
        )

    asyncio.run(scenario())
