"""rtquery (VRRP's start-up questions by hand) against what iproute2 shows, in a namespace."""

import asyncio
import socket
import subprocess
from ipaddress import ip_address, ip_interface

import pytest
from tests.kernel.nsutil import Lan, inside, run

from pykeepalived.errors import KernelError
from pykeepalived.kernel import rtaddr, rtquery
from pykeepalived.kernel.netlink import NetlinkAddresses, NetlinkLinks
from pykeepalived.kernel.ports import AddressGone, LinkState, RoutingGone, VipSpec
from pykeepalived.kernel.route_watch import RouteWatch
from pykeepalived.runtime import primary_address

pytestmark = pytest.mark.root


def test_addresses_state_and_primary_address_match_iproute2(lan: Lan) -> None:
    ns = lan.host("dir", "192.168.88.8/24")
    run("ip", "addr", "add", "192.168.88.50/32", "dev", "eth1", ns=ns)
    run("ip", "addr", "add", "10.9.0.1", "peer", "10.9.0.2/32", "dev", "eth1", ns=ns)
    run("ip", "addr", "add", "fd00::8/64", "dev", "eth1", "nodad", ns=ns)
    run("ip", "link", "add", "dum0", "type", "veth", "peer", "name", "dum1", ns=ns)  # down
    shown = run("ip", "-o", "addr", "show", "dev", "eth1", ns=ns)
    expected = {ip_interface(line.split()[3]) for line in shown.splitlines()}
    expected = {ip_interface("10.9.0.2/32") if a.ip == ip_address("10.9.0.1") else a
                for a in expected}  # fmt: skip  # IFA_ADDRESS of a peer address is the peer

    async def scenario() -> list[object]:
        with inside(ns):
            port, links = NetlinkAddresses(), NetlinkLinks()
            out: list[object] = [await port.addresses("eth1") == expected]
            out += [await links.is_up("eth1"), await links.is_up("dum0"),
                    await links.is_up("lo"), await links.is_up("nosuch0")]  # fmt: skip
            out += [
                await primary_address("eth1", 4),
                (await primary_address("eth1", 6)).is_link_local,
            ]
            with pytest.raises(KernelError, match="does not exist"):
                await primary_address("nosuch0", 4)
            with pytest.raises(KernelError, match="no IPv6 address"):
                await primary_address("dum0", 6)
            out.append(rtquery.link_state(9999))
            await port.close()
        return out

    got = asyncio.run(scenario())
    assert got == [True, True, False, True, False, ip_address("192.168.88.8"), True, None]


def test_parsers_skip_what_they_do_not_know() -> None:
    assert list(rtquery.parse_addresses(b"")) == []
    assert rtquery.parse_link(b"\x10\x00\x00\x00\x03\x00" + bytes(10)) is None  # NLMSG_DONE
    attr = b"\x05\x00\x10\x00\x06\x00\x00\x00"  # IFLA_OPERSTATE = UP
    body = bytes([socket.AF_UNSPEC, 0]) + bytes(6) + (1).to_bytes(4, "little") + bytes(4) + attr
    msg = (16 + len(body)).to_bytes(4, "little") + (16).to_bytes(2, "little") + bytes(10) + body
    assert rtquery.parse_link(msg) == (1, 6)
    assert rtquery.link_is_up(1, 6)
    assert rtquery.link_is_up(1, 0)
    assert not rtquery.link_is_up(0, 6)


def test_address_removals_are_reported_with_the_interface_and_the_address_that_went(
    lan: Lan,
) -> None:
    ns = lan.host("dir", "192.168.88.8/24")
    added = ["192.168.88.50/32", "192.168.88.100/24", "fd00::8/64"]
    for address in added:
        run("ip", "addr", "add", address, "dev", "eth1", "nodad", ns=ns)
    run("ip", "addr", "add", "10.9.0.1", "peer", "10.9.0.2/32", "dev", "eth1", ns=ns)

    async def scenario() -> list[AddressGone]:
        port = NetlinkAddresses()
        with inside(ns):
            removals = port.removed()
            heard = [await anext(removals)]  # subscribed from here on
        for address in added:
            run("ip", "addr", "del", address, "dev", "eth1", ns=ns)
        run("ip", "addr", "del", "10.9.0.1", "peer", "10.9.0.2/32", "dev", "eth1", ns=ns)
        while len(heard) < 5:
            heard.append(await asyncio.wait_for(anext(removals), 5))
        await removals.aclose()
        await port.close()
        return heard

    heard = asyncio.run(scenario())
    assert heard[0] == AddressGone(ifname=None, address=None)  # what went before: unknown
    assert heard[1:] == [
        AddressGone(ifname="eth1", address=ip_interface(a))
        for a in [*added, "10.9.0.1/32"]  # a peer address: the local side, not the peer
    ]


def test_removal_parser_reads_what_rtaddr_writes_and_skips_the_rest() -> None:
    vip = VipSpec(address=ip_interface("192.168.88.100/24"), ifname="eth1",
                  peer=ip_interface("192.168.88.1/32"))  # fmt: skip
    message = rtaddr.newaddr(vip, 7, 1, delete=True)
    assert list(rtquery.removed_addresses(message)) == [
        rtquery.AddressRecord(socket.AF_INET, 24, 7, ip_address("192.168.88.100").packed)
    ]
    assert list(rtquery.removed_addresses(rtaddr.newaddr(vip, 7, 1))) == []  # RTM_NEWADDR
    assert list(rtquery.removed_addresses(message[:20])) == []  # truncated


def test_link_watch_that_lost_notifications_reports_every_link_as_it_is_now(lan: Lan) -> None:
    """A flood of link changes overflows the watch socket (ENOBUFS); the watch then reports
    the state of every link, so a link that went down meanwhile is not missed."""
    ns = lan.host("dir", "192.168.88.8/24")
    batch = "".join(f"link add v{n}a type veth peer name v{n}b\n" for n in range(200))

    async def scenario() -> list[LinkState]:
        with inside(ns):
            watch = NetlinkLinks().watch()
            first = asyncio.ensure_future(anext(watch))  # subscribed, then left unread
            await asyncio.sleep(0.05)
            # Blocking on purpose: the loop must not read while the kernel's queue overflows.
            subprocess.run(["ip", "netns", "exec", ns, "ip", "-batch", "-"], input=batch,  # noqa: ASYNC221
                           text=True, check=True, timeout=60)  # fmt: skip
            run("ip", "link", "set", "eth1", "down", ns=ns)
            heard = [await asyncio.wait_for(first, 5)]
            last = {"v199a", "v199b"}  # the listing's last two
            while not last <= {s.ifname for s in heard} and len(heard) < 5000:
                heard.append(await asyncio.wait_for(anext(watch), 5))
            await watch.aclose()
        return heard

    heard = asyncio.run(scenario())
    names = {s.ifname for s in heard}
    assert {"lo", "eth1", "v199a"} <= names  # the full listing came, not the lost events
    assert LinkState(ifname="eth1", up=False) in heard


def test_route_watch_reports_only_our_routes_and_rules_deleted(lan: Lan) -> None:
    """Protocol 18 (ours, as keepalived's) is reported; everybody else's churn is not."""
    ns = lan.host("dir", "192.168.88.8/24")
    for net, proto in (("10.1.0.0/16", "18"), ("10.2.0.0/16", "static")):
        run("ip", "route", "add", net, "via", "192.168.88.1", "proto", proto, ns=ns)
        run("ip", "rule", "add", "to", net, "table", "100", "protocol", proto, ns=ns)

    async def scenario() -> list[RoutingGone]:
        with inside(ns):
            removals = RouteWatch().removed()
            heard = [await anext(removals)]
        for net in ("10.2.0.0/16", "10.1.0.0/16"):  # others' first: never reported
            run("ip", "route", "del", net, ns=ns)
            run("ip", "rule", "del", "to", net, "table", "100", ns=ns)
        while len(heard) < 3:
            heard.append(await asyncio.wait_for(anext(removals), 5))
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(anext(removals), 0.3)  # nothing else came
        await removals.aclose()
        return heard

    assert asyncio.run(scenario()) == [
        RoutingGone(kind="any"),
        RoutingGone(kind="route"),
        RoutingGone(kind="rule"),
    ]
