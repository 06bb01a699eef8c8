"""The VIP guard without root: a MASTER puts back a VIP removed by something else, in place.

Fake address and link ports (the kernel's part, "was it really gone", is the fake's ``add``
answer); the instance is a real core driven to MASTER, its I/O description the driver's own.
"""

import asyncio
from collections.abc import AsyncIterator
from ipaddress import ip_address, ip_interface

import pytest

from pykeepalived.config.loader import load
from pykeepalived.errors import KernelError
from pykeepalived.kernel.ports import AddressGone, IPAddress, IPInterface, VipSpec
from pykeepalived.vrrp.events import AddVips, SendGratuitous
from pykeepalived.vrrp.from_config import instance_params
from pykeepalived.vrrp.group import Tagged
from pykeepalived.vrrp.instance import Instance
from pykeepalived.vrrp.node_actions import InstanceIO, InstanceStats, instance_io
from pykeepalived.vrrp.node_vip_guard import VipGuard
from pykeepalived.vrrp.states import State

CONF = """
vrrp_instance VI_1 {
    interface eth1
    virtual_router_id 18
    priority 100
    advert_int 1
    garp_master_repeat 3
    virtual_ipaddress {
        192.168.88.100/24
        192.168.88.101/24 no_track
    }
    virtual_ipaddress_excluded {
        fd00::100/64
    }
}
"""
VIP = ip_interface("192.168.88.100/24")
UNTRACKED = ip_interface("192.168.88.101/24")
EXCLUDED = ip_interface("fd00::100/64")


class FakeAddresses:
    """The kernel's address table of eth1, as far as the guard can see it."""

    def __init__(self, present: set[IPInterface]) -> None:
        self.present = present
        self.added: list[IPInterface] = []

    async def add(self, vip: VipSpec) -> bool:
        if vip.ifname != "eth1":
            raise KernelError(f"interface {vip.ifname} does not exist")
        if vip.address in self.present:
            return False
        self.present.add(vip.address)
        self.added.append(vip.address)
        return True

    async def remove(self, vip: VipSpec) -> bool:
        raise AssertionError("the guard never removes")

    async def addresses(self, ifname: str) -> set[IPInterface]:
        return set(self.present)


class FakeLinks:
    def __init__(self) -> None:
        self.up = True

    async def is_up(self, ifname: str) -> bool:
        return self.up

    def watch(self) -> AsyncIterator[object]:
        raise AssertionError("not the guard's business")


class Removals:
    def __init__(self, *items: AddressGone, fail: bool = False) -> None:
        self.items, self.fail = items, fail

    async def removed(self) -> AsyncIterator[AddressGone]:
        for item in self.items:
            yield item
        if self.fail:
            raise KernelError("address notifications: Permission denied")


async def _primary(ifname: str, family: int) -> IPAddress:
    return ip_address("192.168.88.8")


class Lab:
    def __init__(self, *, master: bool = True) -> None:
        result = load("test.conf", text=CONF)
        assert result.config is not None, result.diagnostics
        inst = result.config.vrrp_instance[0]
        self.io: InstanceIO = asyncio.run(instance_io(inst, result.config, _primary))
        self.core = Instance(instance_params(inst, result.config, self.io.src))
        self.core.start(0.0)
        if master:
            self.core.handle_timer(10.0)
        assert self.core.state is (State.MASTER if master else State.BACKUP)
        self.addresses = FakeAddresses({VIP, UNTRACKED, EXCLUDED})
        self.links = FakeLinks()
        self.performed: list[Tagged] = []
        self.stats: dict[str, InstanceStats] = {}

    async def _perform(self, actions: list[Tagged]) -> None:
        self.performed += actions

    def guard(self, removals: Removals) -> VipGuard:
        return VipGuard(
            watch=removals,
            addresses=self.addresses,
            links=self.links,
            io={"VI_1": self.io},
            cores={"VI_1": self.core},
            stats=self.stats,
            lock=asyncio.Lock(),
            perform=self._perform,
        )

    def run(self, *gone: AddressGone, remove: tuple[IPInterface, ...] = ()) -> None:
        self.addresses.present -= set(remove)
        asyncio.run(self.guard(Removals(*gone)).run(asyncio.Event()))


def gone(address: IPInterface, ifname: str = "eth1") -> AddressGone:
    return AddressGone(ifname=ifname, address=address)


ANY = AddressGone(ifname=None, address=None)


def test_a_master_puts_back_a_removed_vip_then_announces_its_vips() -> None:
    lab = Lab()
    lab.run(gone(VIP), remove=(VIP,))
    assert lab.addresses.added == [VIP]
    assert lab.performed == [
        Tagged(source="VI_1", action=AddVips()),  # routes and rules the kernel flushed with it
        Tagged(source="VI_1", action=SendGratuitous(repeat=3)),
    ]
    assert lab.stats["VI_1"].vips_restored == 1
    assert lab.core.state is State.MASTER  # no flap: no notify, no priority 0


def test_an_excluded_vip_is_guarded_too() -> None:
    lab = Lab()
    lab.run(gone(EXCLUDED), remove=(EXCLUDED,))
    assert lab.addresses.added == [EXCLUDED]


def test_a_removal_we_already_undid_changes_nothing() -> None:
    """An old notification of our own removal, read after the VIP went back on."""
    lab = Lab()
    lab.run(gone(VIP))
    assert lab.performed == []
    assert "VI_1" not in lab.stats


@pytest.mark.parametrize(
    "event",
    [gone(ip_interface("192.168.88.100/32")), gone(VIP, "eth2"), gone(ip_interface("10.0.0.1/8"))],
    ids=["other prefix", "other interface", "not ours"],
)
def test_removals_of_other_addresses_are_not_ours(event: AddressGone) -> None:
    lab = Lab()
    lab.run(event, remove=(VIP,))
    assert lab.addresses.added == []
    assert lab.performed == []


def test_no_track_vips_are_left_as_they_are() -> None:
    lab = Lab()
    lab.run(gone(UNTRACKED), ANY, remove=(UNTRACKED,))
    assert lab.addresses.added == []


def test_a_backup_owns_no_vip_to_put_back() -> None:
    lab = Lab(master=False)
    lab.run(gone(VIP), ANY, remove=(VIP, EXCLUDED))
    assert lab.addresses.added == []


def test_a_vip_on_a_down_link_is_left_to_tracking() -> None:
    lab = Lab()
    lab.links.up = False
    lab.run(gone(VIP), remove=(VIP,))
    assert lab.addresses.added == []


def test_lost_notifications_mean_every_tracked_vip_is_checked() -> None:
    lab = Lab()
    lab.run(ANY, remove=(VIP, UNTRACKED, EXCLUDED))
    assert lab.addresses.added == [VIP, EXCLUDED]
    assert lab.stats["VI_1"].vips_restored == 2
    assert [t.action for t in lab.performed] == [AddVips(), SendGratuitous(repeat=3)]  # once


def test_a_watch_that_fails_is_logged_and_the_node_runs_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    lab = Lab()

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(lab.guard(Removals(fail=True)).run(stop))
        await asyncio.sleep(0.01)
        assert not task.done()  # no exception into the node's task group
        stop.set()
        await asyncio.wait_for(task, 1)

    asyncio.run(scenario())
    assert "VIP guard off: address notifications: Permission denied" in caplog.text
