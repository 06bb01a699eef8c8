"""The operator's commands to the driver: the API's release-master and reclaim-master.

Rules: asyncio glue (L3), used by ``node`` only. A command names an instance; an unknown one,
or one that has nothing to release or reclaim, gets a clear refusal (``HoldOutcome``, ok False)
and changes nothing. What a hold does is the cores' business (``hold``, ``group``); this takes
the node's lock, hands the hold to the instance's unit, performs what it returns and wakes the
timers. It must not know the API, the daemon or how actions are performed (``perform``).
"""

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from pykeepalived.clock import Clock
from pykeepalived.vrrp.group import SyncGroup, Tagged
from pykeepalived.vrrp.hold import Hold, HoldOutcome
from pykeepalived.vrrp.instance import Instance
from pykeepalived.vrrp.states import State
from pykeepalived.vrrp.units import Unit


@dataclass
class NodeCommands:
    """One node's commands, over the node's own tables (shared, filled as it builds)."""

    clock: Clock
    cores: dict[str, Instance]
    unit_of: dict[str, Unit]
    lock: asyncio.Lock
    wake: asyncio.Event  # set after a command: the timers are due again
    perform: Callable[[list[Tagged]], Awaitable[None]]

    async def release_master(
        self, name: str, holder: str, reason: str, hold_s: float | None = None
    ) -> HoldOutcome:
        """``name`` gives up mastership (priority 0, VIPs removed) and is held in BACKUP until
        ``reclaim_master`` or, with ``hold_s``, that many seconds (a sync group: all of it)."""
        async with self.lock:
            core = self.cores.get(name)
            if core is None:
                return _unknown(name, self.cores)
            if core.state is not State.MASTER:
                held = "; it is held already" if core.snapshot().holds else ""
                text = f"({name}) is {core.state.value}, not MASTER: no mastership to release{held}"
                return HoldOutcome(ok=False, message=text)
            now = self.clock.now()
            until = now + hold_s if hold_s is not None else None
            hold = Hold(holder=holder, reason=reason, since=now, until=until)
            unit = self.unit_of[name]
            await self.perform(unit.hold_backup(name, hold, now))
        self.wake.set()
        group = f" with sync group {unit.name}" if isinstance(unit, SyncGroup) else ""
        span = f"for {hold_s:g} s" if hold_s is not None else "until reclaim-master"
        text = f"({name}) released mastership{group} (priority 0 sent); held BACKUP {span}"
        return HoldOutcome(ok=True, message=text)

    async def reclaim_master(self, name: str, holder: str) -> HoldOutcome:
        """Lift ``holder``'s hold on ``name``: it is back in the election (with preempt, a
        higher priority takes mastership back within a Master_Down_Interval)."""
        async with self.lock:
            core = self.cores.get(name)
            if core is None:
                return _unknown(name, self.cores)
            if not any(h.holder == holder for h in core.snapshot().holds):
                text = f"({name}) is not held by {holder}: nothing to reclaim"
                return HoldOutcome(ok=False, message=text)
            now = self.clock.now()
            await self.perform(self.unit_of[name].release_backup(name, holder, now))
        self.wake.set()
        text = f"({name}) hold lifted: back in the election (preempt takes mastership back)"
        return HoldOutcome(ok=True, message=text)


def _unknown(name: str, known: dict[str, Instance]) -> HoldOutcome:
    names = ", ".join(sorted(known)) or "none"
    return HoldOutcome(ok=False, message=f"no vrrp_instance {name!r} (known: {names})",
                       not_found=True)  # fmt: skip
