"""static_ipaddress without root: where each address goes, the order of start and stop
(addresses, routes, rules; then the reverse), the reload diff, and the guard putting back one
deleted from outside whatever the VRRP state.

Fake address and route ports that record calls (the kernel's part is the netns test's,
``tests/netns/test_vrrp_static_address.py``).
"""

import asyncio
import logging
from collections.abc import AsyncIterator
from ipaddress import ip_interface

import pytest

from pykeepalived.config.loader import load
from pykeepalived.config.model import KeepalivedConfig
from pykeepalived.config.model_routes import IpRoute, IpRule
from pykeepalived.errors import KernelError
from pykeepalived.kernel.ports import AddressGone, IPInterface, VipSpec
from pykeepalived.vrrp.node_extras import NodeExtras, static_of, tracked_static
from pykeepalived.vrrp.node_vip_guard import VipGuard

CONF = """
global_defs {
    default_interface eth2
}
static_ipaddress {
    10.1.0.1/24 dev eth1 label eth1:st
    10.2.0.1/24
    fd00:5::1/64 dev eth1 no_track
}
static_routes {
    10.50.0.0/16 via 10.1.0.254 dev eth1
}
static_rules {
    from 10.1.0.1 table 50
}
"""
FIRST, DEFAULT, UNTRACKED = (ip_interface(a) for a in ("10.1.0.1/24", "10.2.0.1/24",
                                                        "fd00:5::1/64"))  # fmt: skip


def loaded(text: str = CONF) -> KeepalivedConfig:
    result = load("test.conf", text=text)
    assert result.ok, result.diagnostics
    assert result.config is not None
    return result.config


class Journal:
    """Address and route ports in one: every call, in order; ``present`` is the kernel's."""

    def __init__(self, present: set[IPInterface] | None = None) -> None:
        self.calls: list[str] = []
        self.present = set() if present is None else present
        self.missing_links: set[str] = set()

    async def add(self, vip: VipSpec) -> bool:
        self.calls.append(f"add {vip.address} {vip.ifname}")
        if vip.ifname in self.missing_links:
            raise KernelError(f"interface {vip.ifname} does not exist")
        new = vip.address not in self.present
        self.present.add(vip.address)
        return new

    async def remove(self, vip: VipSpec) -> bool:
        self.calls.append(f"remove {vip.address} {vip.ifname}")
        gone = vip.address in self.present
        self.present.discard(vip.address)
        return gone

    async def addresses(self, ifname: str) -> set[IPInterface]:
        return set(self.present)

    async def add_route(self, route: IpRoute) -> bool:
        self.calls.append("add route")
        return True

    async def remove_route(self, route: IpRoute) -> bool:
        self.calls.append("remove route")
        return True

    async def add_rule(self, rule: IpRule) -> bool:
        self.calls.append("add rule")
        return True

    async def remove_rule(self, rule: IpRule) -> bool:
        self.calls.append("remove rule")
        return True


def test_an_address_without_dev_goes_on_the_default_interface() -> None:
    specs = static_of(loaded()).addresses
    assert [(s.address, s.ifname, s.label) for s in specs] == [
        (FIRST, "eth1", "eth1:st"),
        (DEFAULT, "eth2", None),
        (UNTRACKED, "eth1", None),
    ]
    assert specs[2].nodad  # IPv6 without DAD, as a VIP (keepalived's netlink_ipaddress)
    assert [s.address for s in tracked_static(loaded())] == [FIRST, DEFAULT]


def test_start_adds_addresses_before_routes_and_rules_stop_removes_in_reverse() -> None:
    journal = Journal()
    extras = NodeExtras({}, journal, None, static_of(loaded()), journal)
    asyncio.run(extras.start())
    assert journal.calls == ["add 10.1.0.1/24 eth1", "add 10.2.0.1/24 eth2",
                             "add fd00:5::1/64 eth1", "add route", "add rule"]  # fmt: skip
    journal.calls.clear()
    asyncio.run(extras.stop(keep_static=True))  # a reload: the successor carries them on
    assert journal.calls == []
    asyncio.run(extras.stop())
    assert journal.calls == ["remove rule", "remove route", "remove 10.1.0.1/24 eth1",
                             "remove 10.2.0.1/24 eth2", "remove fd00:5::1/64 eth1"]  # fmt: skip


def test_a_missing_interface_is_logged_and_the_rest_still_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    journal = Journal()
    journal.missing_links.add("eth2")
    extras = NodeExtras({}, journal, None, static_of(loaded()), journal)
    asyncio.run(extras.start())
    assert journal.present == {FIRST, UNTRACKED}
    assert journal.calls[-2:] == ["add route", "add rule"]
    assert "(static) interface eth2 does not exist" in caplog.text


def test_a_reload_removes_only_the_addresses_that_left() -> None:
    journal = Journal({FIRST, DEFAULT, UNTRACKED})
    old = NodeExtras({}, journal, None, static_of(loaded()), journal)
    new_conf = loaded(CONF.replace("    10.2.0.1/24\n", "    10.3.0.1/24\n"))
    asyncio.run(old.release_gone(NodeExtras({}, None, None, static_of(new_conf)), ()))
    assert journal.calls == ["remove 10.2.0.1/24 eth2"]


class Removals:
    def __init__(self, *items: AddressGone) -> None:
        self.items = items

    async def removed(self) -> AsyncIterator[AddressGone]:
        for item in self.items:
            yield item


class DownLinks:
    """Every link down and no instance: static addresses go back regardless."""

    async def is_up(self, ifname: str) -> bool:
        return False

    def watch(self) -> AsyncIterator[object]:
        raise AssertionError("not the guard's business")


def guard_run(journal: Journal, *gone: AddressGone) -> None:
    async def perform(actions: object) -> None:
        raise AssertionError("no instance here: nothing to perform")

    guard = VipGuard(watch=Removals(*gone), addresses=journal, links=DownLinks(), io={},
                     cores={}, stats={}, lock=asyncio.Lock(), perform=perform,
                     static=tracked_static(loaded()))  # fmt: skip
    asyncio.run(guard.run(asyncio.Event()))


def test_the_guard_puts_back_a_deleted_static_address(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="pykeepalived.vrrp")
    journal = Journal({DEFAULT, UNTRACKED})  # FIRST was deleted from outside
    guard_run(journal, AddressGone(ifname="eth1", address=FIRST))
    assert journal.calls == ["add 10.1.0.1/24 eth1"]
    assert FIRST in journal.present
    assert "Restoring deleted static address 10.1.0.1/24 dev eth1" in caplog.text


def test_the_guard_leaves_no_track_and_others_addresses_alone() -> None:
    """no_track: not ours to repair; 10.2.0.1 on eth1 is not the static one (on eth2)."""
    journal = Journal({FIRST, DEFAULT})
    guard_run(journal, AddressGone(ifname="eth1", address=UNTRACKED),
              AddressGone(ifname="eth1", address=DEFAULT))  # fmt: skip
    assert journal.calls == []


def test_lost_notifications_mean_every_tracked_static_address_is_checked() -> None:
    journal = Journal({DEFAULT})
    guard_run(journal, AddressGone(ifname=None, address=None))
    assert journal.calls == ["add 10.1.0.1/24 eth1", "add 10.2.0.1/24 eth2"]
    assert journal.present == {FIRST, DEFAULT}
