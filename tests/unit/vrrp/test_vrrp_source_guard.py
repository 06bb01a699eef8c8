"""The source guard without root: an instance whose source address is really gone is held in
FAULT, a stale or foreign removal changes nothing, and the same address coming back lifts it.

A fake address port plays the kernel's table (the wire is ``tests/netns/
test_vrrp_source_address.py``'s); the instance is a real core in a ``Solo`` unit.
"""

import asyncio
from collections.abc import AsyncIterator
from ipaddress import ip_address, ip_interface

from pykeepalived.clock import FakeClock
from pykeepalived.config.loader import load
from pykeepalived.kernel.ports import AddressGone, IPAddress, IPInterface, VipSpec
from pykeepalived.vrrp.from_config import instance_params
from pykeepalived.vrrp.group import Tagged
from pykeepalived.vrrp.instance import Instance
from pykeepalived.vrrp.node_actions import instance_io
from pykeepalived.vrrp.node_source_guard import SourceGuard
from pykeepalived.vrrp.states import State
from pykeepalived.vrrp.units import Solo

CONF = """
vrrp_instance VI_1 {
    interface eth1
    virtual_router_id 18
    priority 100
    advert_int 1
    virtual_ipaddress {
        192.168.88.100/24
    }
}
"""
SOURCE = ip_interface("192.168.88.8/24")
OTHER = ip_interface("192.168.88.18/24")


class Table:
    """eth1's addresses as the kernel has them; removals are fed by the test."""

    def __init__(self) -> None:
        self.present = {SOURCE, OTHER}
        self.removals: asyncio.Queue[AddressGone] = asyncio.Queue()

    async def add(self, vip: VipSpec) -> bool:
        raise AssertionError("the source guard never adds")

    async def remove(self, vip: VipSpec) -> bool:
        raise AssertionError("the source guard never removes")

    async def addresses(self, ifname: str) -> set[IPInterface]:
        assert ifname == "eth1"
        return set(self.present)

    async def removed(self) -> AsyncIterator[AddressGone]:
        while True:
            yield await self.removals.get()


async def _primary(ifname: str, family: int) -> IPAddress:
    return ip_address("192.168.88.8")


async def scenario(steps: list[tuple[str, IPInterface]]) -> tuple[list[State], list[str]]:
    """Run the guard on a MASTER; each step removes (``del``) or restores (``add``) an address
    and lets the guard see it. Returns the core's state after each step, and the faults."""
    result = load("test.conf", text=CONF)
    assert result.config is not None
    inst = result.config.vrrp_instance[0]
    io = await instance_io(inst, result.config, _primary)
    core = Instance(instance_params(inst, result.config, io.src))
    core.start(0.0)
    core.handle_timer(10.0)
    table, performed = Table(), []

    async def perform(actions: list[Tagged]) -> None:
        performed.extend(actions)

    guard = SourceGuard(watch=table, addresses=table, io={"VI_1": io},
                        unit_of={"VI_1": Solo(core)}, clock=FakeClock(20.0),
                        lock=asyncio.Lock(), wake=asyncio.Event(), perform=perform,
                        poll_s=0.01)  # fmt: skip
    stop = asyncio.Event()
    task = asyncio.create_task(guard.run(stop))
    states = []
    for op, address in steps:
        if op == "del":
            table.present.discard(address)
            await table.removals.put(AddressGone(ifname="eth1", address=address))
        else:
            table.present.add(address)
        await asyncio.sleep(0.05)
        states.append(core.state)
    task.cancel()
    return states, sorted(core.faults.values())


def test_the_source_gone_faults_the_instance_and_its_return_lifts_it() -> None:
    states, faults = asyncio.run(scenario([("del", SOURCE), ("add", SOURCE)]))
    assert states == [State.FAULT, State.BACKUP]  # back in the election, as after any fault
    assert faults == []


def test_another_address_going_changes_nothing() -> None:
    states, faults = asyncio.run(scenario([("del", OTHER)]))
    assert states == [State.MASTER]
    assert faults == []


def test_another_address_in_its_place_keeps_the_fault() -> None:
    states, faults = asyncio.run(scenario([("del", SOURCE), ("add", OTHER)]))
    assert states == [State.FAULT, State.FAULT]
    assert faults == ["source address 192.168.88.8 gone from eth1"]
