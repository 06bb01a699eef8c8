"""An instance whose advert source address leaves the host goes to FAULT until it is back.

Why: adverts go out from the instance's source address (the interface's first address, or
``mcast_src_ip`` / ``unicast_src_ip``). When it is removed (a DHCP renewal with another
address, an operator's mistake), the kernel refuses every send; a MASTER that stays MASTER
then keeps the VIP while the peer, hearing nothing, takes it too: a split brain for good
(seen in the lab). keepalived 2.2.7 moves such an instance to FAULT ("no source IP") when
the address was its interface's, and only with ``track_src_ip`` when configured; here it is
always so, since neither can send. The fault lifts when the same address is back on the
interface (checked every ``poll_s`` while held); another address needs a reload, which takes
the interface's address anew.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from pykeepalived.clock import Clock
from pykeepalived.errors import KernelError
from pykeepalived.kernel.ports import AddressGone, AddressPort, AddressWatchPort, IPAddress
from pykeepalived.vrrp.group import Tagged
from pykeepalived.vrrp.node_actions import InstanceIO
from pykeepalived.vrrp.units import Unit

log = logging.getLogger("pykeepalived.vrrp")
HOLDER = "source address"
POLL_S = 0.5


@dataclass
class SourceGuard:
    """One node's watch over its instances' source addresses."""

    watch: AddressWatchPort
    addresses: AddressPort
    io: Mapping[str, InstanceIO]
    unit_of: Mapping[str, Unit]
    clock: Clock
    lock: asyncio.Lock
    wake: asyncio.Event  # set after a fault changes: the timers are due again
    perform: Callable[[list[Tagged]], Awaitable[None]]
    poll_s: float = POLL_S
    held: dict[str, IPAddress] = field(default_factory=dict)  # instance -> its missing source

    async def run(self, stop: asyncio.Event) -> None:
        """Until the node stops; a watch that fails is logged and the node runs on without."""
        removals = self.watch.removed()
        pending = asyncio.ensure_future(anext(removals))
        try:
            while True:
                timeout = self.poll_s if self.held else None
                done, _ = await asyncio.wait({pending}, timeout=timeout)
                if pending in done:
                    gone = pending.result()
                    pending = asyncio.ensure_future(anext(removals))
                    await self.check_gone(gone)
                await self.check_back()
        except KernelError as exc:
            log.error("source address watch off: %s", exc)
            await stop.wait()
        finally:
            pending.cancel()

    async def check_gone(self, gone: AddressGone) -> None:
        for name, io in self.io.items():
            if name in self.held or (gone.address is not None and gone.address.ip != io.src):
                continue
            if await self._present(io):
                continue
            where = _interface(io)
            log.warning("(%s) source address %s is gone from %s: FAULT until it is back",
                        name, io.src, where)  # fmt: skip
            self.held[name] = io.src
            await self._change(name, hold=f"source address {io.src} gone from {where}")

    async def check_back(self) -> None:
        for name in list(self.held):
            io = self.io.get(name)
            if io is None or await self._present(io):
                if io is not None:
                    log.info("(%s) source address %s is back on %s", name, io.src, _interface(io))
                del self.held[name]
                await self._change(name, hold=None)

    async def _change(self, name: str, *, hold: str | None) -> None:
        unit = self.unit_of.get(name)
        if unit is None:
            return
        async with self.lock:
            now = self.clock.now()
            if hold is not None:
                actions = unit.hold_fault(name, HOLDER, hold, now)
            else:
                actions = unit.release_fault(name, HOLDER, now)
            await self.perform(actions)
        self.wake.set()

    async def _present(self, io: InstanceIO) -> bool:
        try:
            found = await self.addresses.addresses(_interface(io))
        except KernelError:
            return False  # the interface itself is gone (link tracking says so too)
        return io.src in {a.ip for a in found}


def _interface(io: InstanceIO) -> str:
    """Where the source address lives: the configured interface (a VMAC's base)."""
    return io.config.interface or io.ifname
