"""Unicast options as keepalived 2.2.7 has them: check_unicast_src with per-peer TTL ranges,
unicast_ttl, unicast_fault_no_peer (pure, plus the driver's receive path on fake ports)."""

import asyncio
from ipaddress import IPv4Address, ip_address

from test_vrrp_node_receive import (
    FakeAddresses,
    FakeAnnouncer,
    FakeLinks,
    FakeTransport,
    advert,
    ipv4,
    rx,
)

from pykeepalived.clock import FakeClock
from pykeepalived.config.loader import load
from pykeepalived.config.model import KeepalivedConfig
from pykeepalived.kernel.ports import IPAddress
from pykeepalived.notify import ScriptRunner
from pykeepalived.vrrp.node import VrrpNode, VrrpPorts
from pykeepalived.vrrp.states import State
from pykeepalived.vrrp.unicast import faults_for_no_peer, refusal, send_ttl

PEER = IPv4Address("192.168.88.2")  # the receive helpers' source address
OTHER = IPv4Address("192.168.88.3")


def conf(lines: str, global_lines: str = "") -> KeepalivedConfig:
    text = (
        f"global_defs {{\n{global_lines}\n}}\n"
        "vrrp_instance HA_WebServer {\n    interface eth1\n    virtual_router_id 18\n"
        "    priority 100\n    advert_int 1\n"
        "    authentication {\n        auth_type PASS\n        auth_pass 123456\n    }\n"
        f"{lines}\n"
        "    virtual_ipaddress {\n        192.168.88.100/24\n    }\n}\n"
    )
    result = load("test.conf", text=text)
    assert result.ok, result.diagnostics
    assert result.config is not None
    return result.config


PEERS = "unicast_src_ip 192.168.88.8\nunicast_peer {\n    192.168.88.2 min_ttl 250 max_ttl 255\n}"


def test_source_checked_only_when_asked() -> None:
    loose = conf(PEERS)
    assert refusal(loose.vrrp_instance[0], loose, OTHER, 255) is None  # keepalived's default
    for config in (conf(PEERS + "\ncheck_unicast_src"), conf(PEERS, "vrrp_check_unicast_src")):
        inst = config.vrrp_instance[0]
        assert refusal(inst, config, PEER, 255) is None
        assert refusal(inst, config, OTHER, 255) == (
            "source",
            "unicast source address 192.168.88.3 not a unicast peer",
        )
        assert refusal(inst, config, PEER, 249) == ("ttl", "TTL/HL 249 not in range 250 - 255")
        assert refusal(inst, config, PEER, None) is None  # TTL unknown: not refused


def test_send_ttl_and_fault_without_peer() -> None:
    assert send_ttl(conf(PEERS + "\nunicast_ttl 10").vrrp_instance[0]) == 10
    assert send_ttl(conf(PEERS).vrrp_instance[0]) == 255
    assert faults_for_no_peer(conf("unicast_fault_no_peer").vrrp_instance[0])
    assert not faults_for_no_peer(conf(PEERS + "\nunicast_fault_no_peer").vrrp_instance[0])


async def _primary(ifname: str, family: int) -> IPAddress:
    return ip_address("192.168.88.8")


async def started(config: KeepalivedConfig) -> tuple[VrrpNode, tuple[str, int, IPAddress, bool]]:
    ports = VrrpPorts(
        addresses=FakeAddresses(),
        announcer=FakeAnnouncer(),
        links=FakeLinks(),
        open_transport=lambda ifname, src, group: FakeTransport(),
        primary_address=_primary,
        scripts=ScriptRunner(),
        clock=FakeClock(),
    )
    node = VrrpNode(config, ports)
    await node.build()
    node._open_sockets()
    async with node._lock:
        for unit in node._units.values():
            await node._perform(unit.start(node.ports.clock.now()))
    return node, next(iter(node._sockets))


def test_driver_drops_and_counts_non_peer_and_bad_ttl() -> None:
    async def scenario() -> None:
        node, key = await started(conf(PEERS + "\ncheck_unicast_src"))
        core = node._cores["HA_WebServer"]
        state, timer = core.state, core.get_timer()
        unicast_dst = IPv4Address("192.168.88.8")
        stranger = ipv4(advert(), src=OTHER)[:16] + unicast_dst.packed + advert()
        await node._on_datagram(key, rx(stranger))
        low_ttl = ipv4(advert(), ttl=200)[:16] + unicast_dst.packed + advert()
        await node._on_datagram(key, rx(low_ttl))
        assert (node.errors["source"], node.errors["ttl"]) == (1, 1)
        assert (core.state, core.get_timer(), core.master_ip) == (state, timer, None)
        good = ipv4(advert(), ttl=250)[:16] + unicast_dst.packed + advert()
        await node._on_datagram(key, rx(good))
        assert core.master_ip == PEER

    asyncio.run(scenario())


def test_no_peer_holds_the_instance_in_fault() -> None:
    async def scenario() -> None:
        node, _ = await started(conf("unicast_fault_no_peer"))
        assert node._cores["HA_WebServer"].state is State.FAULT

    asyncio.run(scenario())
