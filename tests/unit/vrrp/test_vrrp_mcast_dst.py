"""mcast_dst_ip without root: an instance's own multicast group is where its adverts go and
the group its socket joins (a socket of its own), and an advert to another group is not
heard, as keepalived's receive socket (bound to its group) never sees one. Fake ports; the
wire and keepalived's side are ``tests/netns/test_vrrp_mcast_dst.py``.
"""

import asyncio
from ipaddress import IPv4Address, ip_address

from test_vrrp_node_receive import FakeAddresses, FakeAnnouncer, FakeLinks, FakeTransport

from pykeepalived.clock import FakeClock
from pykeepalived.config.loader import load
from pykeepalived.kernel.ports import IPAddress, Received
from pykeepalived.notify import ScriptRunner
from pykeepalived.vrrp.node import VrrpNode, VrrpPorts
from pykeepalived.vrrp.packet import Advert, Family, encode

CONF = """
vrrp_instance OWN {
    interface eth1
    virtual_router_id 18
    version 3
    mcast_dst_ip 224.0.0.19
    virtual_ipaddress {
        192.168.88.100/24
    }
}
vrrp_instance DEFAULT {
    interface eth1
    virtual_router_id 19
    version 3
    virtual_ipaddress {
        192.168.88.101/24
    }
}
vrrp_instance UNICAST {
    interface eth1
    virtual_router_id 20
    version 3
    mcast_dst_ip 224.0.0.19
    unicast_peer {
        192.168.88.9
    }
    virtual_ipaddress {
        192.168.88.102/24
    }
}
"""
OWN, DEFAULT = IPv4Address("224.0.0.19"), IPv4Address("224.0.0.18")
PEER = IPv4Address("192.168.88.2")


async def _primary(ifname: str, family: int) -> IPAddress:
    return ip_address("192.168.88.8")


async def built() -> tuple[VrrpNode, list[tuple[str, IPAddress | None]]]:
    result = load("test.conf", text=CONF)
    assert result.config is not None, result.diagnostics
    opened: list[tuple[str, IPAddress | None]] = []

    def open_transport(ifname: str, src: IPAddress, group: IPAddress | None) -> FakeTransport:
        opened.append((ifname, group))
        return FakeTransport()

    ports = VrrpPorts(addresses=FakeAddresses(), announcer=FakeAnnouncer(), links=FakeLinks(),
                      open_transport=open_transport, primary_address=_primary,
                      scripts=ScriptRunner(), clock=FakeClock())  # fmt: skip
    node = VrrpNode(result.config, ports)
    await node.build()
    node._open_sockets()
    return node, opened


def test_adverts_go_to_the_instance_s_group_and_its_socket_joins_it() -> None:
    node, opened = asyncio.run(built())
    assert node._io["OWN"].destinations == (OWN,)
    assert node._io["DEFAULT"].destinations == (DEFAULT,)
    assert node._io["UNICAST"].destinations == (ip_address("192.168.88.9"),)  # ignored there
    assert sorted(opened, key=str) == sorted([("eth1", OWN), ("eth1", DEFAULT), ("eth1", None)],
                                             key=str)  # fmt: skip


def datagram(vrid: int, dst: IPv4Address) -> Received:
    advert = Advert(version=3, vrid=vrid, priority=200, advert_int_cs=100, family=Family.IPV4,
                    addresses=(IPv4Address("192.168.88.100"),))  # fmt: skip
    payload = encode(advert, src=PEER, dst=dst)
    total = 20 + len(payload)
    header = bytes([0x45, 0, total >> 8, total & 0xFF, 0, 0, 0, 0, 255, 112, 0, 0])
    data = header + PEER.packed + dst.packed + payload
    return Received(data=data, src=PEER, dst=None, ttl=None, has_ip_header=True)


def test_an_advert_to_another_group_is_not_heard() -> None:
    async def scenario() -> None:
        node, _ = await built()
        key = next(k for k in node._sockets if k[4] == OWN)
        await node._on_datagram(key, datagram(18, DEFAULT))  # the interface hears both groups
        assert node.stats["OWN"].adverts_received == 0
        assert sum(node.errors.values()) == 0, "not an error: keepalived never sees it"
        await node._on_datagram(key, datagram(18, OWN))
        assert node.stats["OWN"].adverts_received == 1

    asyncio.run(scenario())


def instance(name: str, vrid: int, *lines: str, vip: str = "192.168.88.100/24") -> str:
    body = "\n".join(f"    {ln}" for ln in lines)
    return (f"vrrp_instance {name} {{\n    interface eth1\n    virtual_router_id {vrid}\n"
            f"{body}\n    virtual_ipaddress {{\n        {vip}\n    }}\n}}\n")  # fmt: skip


def messages(text: str) -> list[tuple[str, str]]:
    result = load("test.conf", text=text)
    return [(d.severity.name.lower(), d.message) for d in result.diagnostics
            if "mcast" in d.message or "multicast" in d.message
            or "virtual_router_id" in d.message]  # fmt: skip


def test_one_vrid_may_serve_two_groups_on_one_interface_as_keepalived_allows() -> None:
    assert messages(instance("A", 18) + instance("B", 18, "mcast_dst_ip 224.0.0.19")) == []
    same = instance("A", 18, "mcast_dst_ip 224.0.0.19") + instance(
        "B", 18, "mcast_dst_ip 224.0.0.19"
    )
    assert messages(same) == [("error", "(B) virtual_router_id 18 is already used on eth1 by A")]


def test_a_group_that_cannot_work_is_refused_and_unicast_ignores_it() -> None:
    assert messages(instance("A", 18, "mcast_dst_ip 192.168.88.7")) == [
        ("error", "(A) mcast_dst_ip 192.168.88.7 is not a multicast address")
    ]
    assert messages(instance("A", 18, "mcast_dst_ip 224.0.0.19", vip="fd00::1/64")) == [
        ("error", "(A) mcast dest address 224.0.0.19 MUST match VRRP instance family")
    ]
    unicast = instance("A", 18, "mcast_dst_ip 224.0.0.19", "unicast_peer {", "    192.168.88.9",
                       "}")  # fmt: skip
    assert messages(unicast) == [
        ("warning", "(A) multicast destination specified with unicast - ignoring")
    ]
