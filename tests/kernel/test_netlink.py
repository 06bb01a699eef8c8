"""Virtual addresses and link state through real rtnetlink, in a namespace of the test's own."""

import asyncio
from ipaddress import ip_address, ip_interface

import pytest
from tests.kernel.nsutil import Lan, inside, run

from pykeepalived.kernel.netlink import NetlinkAddresses, NetlinkLinks
from pykeepalived.kernel.ports import VipSpec

pytestmark = pytest.mark.root


def test_add_is_idempotent_and_remove_cleans_up(lan: Lan) -> None:
    ns = lan.host("dir", "192.168.88.8/24")
    vip = VipSpec(address=ip_interface("192.168.88.100/24"), ifname="eth1", label="eth1:vip")

    async def scenario() -> list[object]:
        with inside(ns):
            port = NetlinkAddresses()
            steps: list[object] = [await port.add(vip), await port.add(vip)]
            steps.append(ip_interface("192.168.88.100/24") in await port.addresses("eth1"))
            steps.append(run("ip", "-4", "-o", "addr", "show", "label", "eth1:vip", ns=ns) != "")
            steps += [await port.remove(vip), await port.remove(vip)]
            steps.append(ip_interface("192.168.88.100/24") in await port.addresses("eth1"))
            await port.close()
        return steps

    assert asyncio.run(scenario()) == [True, False, True, True, True, False, False]


def test_interface_recreated_is_looked_up_again(lan: Lan) -> None:
    """The ifindex is cached (the takeover path skips a link dump); a re-created interface
    has a new index, and add/remove find it."""
    ns = lan.host("dir", "192.168.88.8/24")
    vip = VipSpec(address=ip_interface("192.168.88.100/24"), ifname="dum0")

    async def scenario() -> list[object]:
        with inside(ns):
            port = NetlinkAddresses()
            run("ip", "link", "add", "dum0", "type", "veth", "peer", "name", "dum1", ns=ns)
            steps: list[object] = [await port.add(vip)]
            run("ip", "link", "del", "dum0", ns=ns)
            run("ip", "link", "add", "dum0", "type", "veth", "peer", "name", "dum1", ns=ns)
            steps += [await port.add(vip), "192.168.88.100" in run("ip", "addr", ns=ns)]
            steps.append(await port.remove(vip))
            await port.close()
        return steps

    assert asyncio.run(scenario()) == [True, True, True, True]


def test_vip_options_reach_the_kernel(lan: Lan) -> None:
    """The hand-made RTM_NEWADDR (``rtaddr``) carries scope, broadcast, peer and flags."""
    ns = lan.host("dir", "192.168.88.8/24")
    vips = [
        VipSpec(address=ip_interface("10.2.2.100/24"), ifname="eth1", scope="link",
                broadcast=ip_address("10.2.2.255")),
        VipSpec(address=ip_interface("10.1.1.1/32"), ifname="eth1",
                peer=ip_interface("10.1.1.2/32")),
        VipSpec(address=ip_interface("192.168.89.1/24"), ifname="eth1", noprefixroute=True),
    ]  # fmt: skip

    async def scenario() -> str:
        with inside(ns):
            port = NetlinkAddresses()
            for vip in vips:
                assert await port.add(vip)
            shown = run("ip", "-4", "-o", "addr", "show", "dev", "eth1", ns=ns)
            for vip in vips:
                assert await port.remove(vip)
            await port.close()
        return shown

    shown = asyncio.run(scenario())
    assert "inet 10.2.2.100/24 brd 10.2.2.255 scope link" in shown
    assert "inet 10.1.1.1 peer 10.1.1.2/32" in shown
    assert "192.168.89.1/24 scope global noprefixroute" in shown


def test_ipv6_vip_with_nodad(lan: Lan) -> None:
    ns = lan.host("dir", "fd00::8/64")
    vip = VipSpec(address=ip_interface("fd00::100/64"), ifname="eth1", nodad=True)

    async def scenario() -> bool:
        with inside(ns):
            port = NetlinkAddresses()
            await port.add(vip)
            present = ip_interface("fd00::100/64") in await port.addresses("eth1")
            await port.remove(vip)
            await port.close()
        return present

    assert asyncio.run(scenario())


def test_link_watch_sees_down_and_up(lan: Lan) -> None:
    ns = lan.host("dir", "192.168.88.8/24")

    async def scenario() -> list[bool]:
        with inside(ns):
            links = NetlinkLinks()
            assert await links.is_up("eth1")
            seen: list[bool] = []
            stream = links.watch()
            waiter = asyncio.ensure_future(_collect(stream, seen))
            await asyncio.sleep(0.2)
            run("ip", "link", "set", "eth1", "down", ns=ns)
            await asyncio.sleep(0.2)
            run("ip", "link", "set", "eth1", "up", ns=ns)
            await asyncio.wait_for(waiter, 5)
            down_now = await links.is_up("eth1")
        return [*seen[:1], seen[-1], down_now]

    first_down, last_up, now_up = asyncio.run(scenario())
    assert (first_down, last_up, now_up) == (False, True, True)


async def _collect(stream: object, seen: list[bool]) -> None:
    async for state in stream:  # type: ignore[attr-defined]
        if state.ifname == "eth1":
            seen.append(state.up)
            if len(seen) >= 2 and state.up:
                return
