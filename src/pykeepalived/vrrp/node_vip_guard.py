"""Puts back a VIP that something else removed while its instance is MASTER.

Why not keepalived's way: keepalived leaves MASTER when one of its VIPs is deleted from
outside (``ip addr del``, a network manager's flush), sending priority 0, and takes mastership
back after its skew time unless the peer gets there first: a flap to the peer and back, the
notify scripts run twice, and with the seed's priorities (100 and 99) a race of 4 ms decides
who ends up master. Here the instance stays MASTER: the address goes back on at once (with
the instance's routes and rules, which the kernel may have flushed with it), then its
gratuitous ARPs / unsolicited NAs, and the log says so. ``no_track`` VIPs are left alone
(keepalived's meaning: their deletion is not our business), and so is a VIP whose interface
is down (tracking moves the instance to FAULT). The kernel decides whether the address was
really gone: an add that finds it there (an old notification of our own removal, read after
we took it back) changes nothing and logs nothing. The same watch puts back a ``static_ipaddress``
deleted from outside, whatever the VRRP state, as keepalived's ``reinstate_static_address``
does (with its log line); ``no_track`` static addresses are left alone there too.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field

from pykeepalived.errors import KernelError
from pykeepalived.kernel.ports import AddressGone, AddressPort, AddressWatchPort, LinkPort, VipSpec
from pykeepalived.vrrp.events import AddVips, SendGratuitous
from pykeepalived.vrrp.group import Tagged
from pykeepalived.vrrp.instance import Instance
from pykeepalived.vrrp.node_actions import InstanceIO, InstanceStats
from pykeepalived.vrrp.states import State

log = logging.getLogger("pykeepalived.vrrp")


def tracked_vips(io: InstanceIO) -> Iterator[VipSpec]:
    """The instance's VIPs (excluded ones too) whose deletion we repair: not ``no_track``."""
    inst = io.config
    pairs = [*zip(io.vips, inst.virtual_ipaddress, strict=True),
             *zip(io.excluded, inst.virtual_ipaddress_excluded, strict=True)]  # fmt: skip
    return (spec for spec, item in pairs if not item.no_track)


def matches(vip: VipSpec, gone: AddressGone) -> bool:
    """``gone`` names ``vip`` (address and prefix, on its interface), or may be any address."""
    if gone.address is None:
        return True
    return vip.ifname == gone.ifname and vip.address == gone.address


@dataclass
class VipGuard:
    """One node's guard, over the node's own tables (shared, filled as it builds)."""

    watch: AddressWatchPort
    addresses: AddressPort
    links: LinkPort
    io: Mapping[str, InstanceIO]
    cores: Mapping[str, Instance]
    stats: dict[str, InstanceStats]
    lock: asyncio.Lock
    perform: Callable[[list[Tagged]], Awaitable[None]]
    static: tuple[VipSpec, ...] = field(default=())  # tracked static_ipaddress entries

    async def run(self, stop: asyncio.Event) -> None:
        """Until the node stops; a watch that fails is logged and the node runs on without."""
        try:
            async for gone in self.watch.removed():
                await self.repair(gone)
        except KernelError as exc:
            log.error("VIP guard off: %s", exc)
            await stop.wait()

    async def repair(self, gone: AddressGone) -> None:
        async with self.lock:
            for spec in self.static:
                if matches(spec, gone):
                    await self._reinstate(spec)
            for name, io in self.io.items():
                core = self.cores.get(name)
                if core is None or core.state is not State.MASTER:
                    continue
                put_back = [vip for vip in tracked_vips(io) if matches(vip, gone)
                            and await self._put_back(name, vip)]  # fmt: skip
                if not put_back:
                    continue
                where = ", ".join(f"{v.address} on {v.ifname}" for v in put_back)
                log.warning("(%s) VIP %s removed by something else while MASTER: added back",
                            name, where)  # fmt: skip
                self.stats.setdefault(name, InstanceStats()).vips_restored += len(put_back)
                announce = SendGratuitous(repeat=core.params.garp_master_repeat)
                await self.perform([Tagged(source=name, action=AddVips()),
                                    Tagged(source=name, action=announce)])  # fmt: skip

    async def _reinstate(self, spec: VipSpec) -> None:
        """A static address goes back whatever the link's state (keepalived does not look)."""
        try:
            if await self.addresses.add(spec):
                log.info("Restoring deleted static address %s dev %s", spec.address,
                         spec.ifname)  # fmt: skip
        except KernelError as exc:
            log.error("cannot restore static address %s dev %s: %s", spec.address, spec.ifname,
                      exc)  # fmt: skip

    async def _put_back(self, name: str, vip: VipSpec) -> bool:
        """True when ``vip`` was missing and is on again."""
        try:
            if not await self.links.is_up(vip.ifname):
                return False
            return await self.addresses.add(vip)
        except KernelError as exc:
            log.error("(%s) cannot put back %s: %s", name, vip.address, exc)
            return False
