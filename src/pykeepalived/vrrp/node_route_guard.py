"""Puts back routes and rules of ours that something else deleted.

keepalived puts a ``static_routes`` / ``static_rules`` entry deleted from outside back
(``reinstate_static_route``), and leaves MASTER when a MASTER's virtual route or rule goes
(sending priority 0, coming back after its skew time if the peer does not win the race). As
with VIPs (``node_vip_guard``), a MASTER here keeps its state and the entry goes back on, with
a warning; static ones go back whatever the state, as keepalived's. ``no_track`` entries are
left alone (they do not carry protocol 18, so their deletion is not even reported).

Why the pause before repairing: deleting a VIP makes the kernel flush the routes that use it
as their source; the VIP guard puts the VIP and those routes back, and a route put back before
its source address would fail. Waiting ``settle_s`` lets the VIP guard go first and turns a
burst of deletions into one repair; every add is idempotent, so a repair that finds nothing
missing logs nothing.
"""

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from pykeepalived.errors import KernelError
from pykeepalived.kernel.ports import RouteWatchPort
from pykeepalived.vrrp.instance import Instance
from pykeepalived.vrrp.node_extras import NodeExtras
from pykeepalived.vrrp.states import State

log = logging.getLogger("pykeepalived.vrrp")
SETTLE_S = 0.1


@dataclass
class RouteGuard:
    """One node's route and rule guard, over the node's own tables."""

    watch: RouteWatchPort
    extras: NodeExtras
    cores: Mapping[str, Instance]
    lock: asyncio.Lock
    settle_s: float = SETTLE_S

    async def run(self, stop: asyncio.Event) -> None:
        """Until the node stops; a watch that fails is logged and the node runs on without."""
        try:
            async for _gone in self.watch.removed():
                await asyncio.sleep(self.settle_s)
                await self.repair()
        except KernelError as exc:
            log.error("route guard off: %s", exc)
            await stop.wait()

    async def repair(self) -> None:
        async with self.lock:
            restored = await self.extras.reinstate(None)
            if restored:
                log.info("Restoring %d deleted static route(s)/rule(s)", restored)
            for name, core in self.cores.items():
                if core.state is not State.MASTER:
                    continue
                restored = await self.extras.reinstate(name)
                if restored:
                    log.warning("(%s) %d virtual route(s)/rule(s) removed by something else "
                                "while MASTER: added back", name, restored)  # fmt: skip
