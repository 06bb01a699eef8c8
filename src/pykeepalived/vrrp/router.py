"""All the VRRP instances and sync groups of one process, behind one sans-I/O surface.

Rules: pure. It routes each input to the standalone instance or to the sync group that owns the
instance, and merges timers, so the asyncio driver (``vrrp/node.py``) deals with one object:
``get_timer`` / ``handle_timer`` / ``handle_advert(name, ...)`` / ``apply_verdict(name, ...)``.
Which instance a packet is for (interface, address family, VRID) is the driver's demultiplexing;
here instances are named.
"""

from collections.abc import Iterable

from pykeepalived.vrrp.events import Action, AdvertReceived, InstanceSnapshot
from pykeepalived.vrrp.group import SyncGroup, Tagged
from pykeepalived.vrrp.hold import Hold
from pykeepalived.vrrp.instance import Instance
from pykeepalived.vrrp.states import State
from pykeepalived.vrrp.tracking import Verdict, apply_verdict


class Router:
    """``instances`` by name; ``groups`` maps a sync group's name to its members' names."""

    def __init__(
        self, instances: Iterable[Instance], groups: dict[str, list[str]] | None = None
    ) -> None:
        self._instances: dict[str, Instance] = {}
        for inst in instances:
            if inst.name in self._instances:
                raise ValueError(f"instance {inst.name} defined twice")
            self._instances[inst.name] = inst
        self._group_of: dict[str, SyncGroup] = {}
        self.groups: dict[str, SyncGroup] = {}
        for name, members in (groups or {}).items():
            self._add_group(name, members)

    def _add_group(self, name: str, members: list[str]) -> None:
        """keepalived refuses an instance in two groups; unknown names are a config bug here."""
        for member in members:
            if member not in self._instances:
                raise ValueError(f"sync group {name}: no instance {member}")
            if member in self._group_of:
                raise ValueError(f"instance {member} is in two sync groups")
        group = SyncGroup(name, [self._instances[m] for m in members])
        self.groups[name] = group
        for member in members:
            self._group_of[member] = group

    @property
    def instances(self) -> dict[str, Instance]:
        return dict(self._instances)

    def instance(self, name: str) -> Instance:
        return self._instances[name]

    # -- inputs -------------------------------------------------------------------------------

    def start(self, now: float) -> list[Tagged]:
        out: list[Tagged] = []
        for group in self.groups.values():
            out += group.start(now)
        for inst in self._standalone():
            out += _tag(inst, inst.start(now))
        return out

    def get_timer(self) -> float | None:
        timers = [t for t in (i.get_timer() for i in self._instances.values()) if t is not None]
        return min(timers) if timers else None

    def handle_timer(self, now: float) -> list[Tagged]:
        out: list[Tagged] = []
        for group in self.groups.values():
            out += group.handle_timer(now)
        for inst in self._standalone():
            timer = inst.get_timer()
            if timer is not None and timer <= now:
                out += _tag(inst, inst.handle_timer(now))
        return out

    def handle_advert(self, name: str, advert: AdvertReceived, now: float) -> list[Tagged]:
        group = self._group_of.get(name)
        if group is not None:
            return group.handle_advert(name, advert, now)
        inst = self._instances[name]
        return _tag(inst, inst.handle_advert(advert, now))

    def apply_verdict(self, name: str, result: Verdict, now: float) -> list[Tagged]:
        group = self._group_of.get(name)
        if group is not None:
            return group.apply_verdict(name, result, now)
        inst = self._instances[name]
        return _tag(inst, apply_verdict(inst, result, now))

    def hold_fault(
        self, name: str, holder: str, reason: str, now: float, *, pending: bool = False
    ) -> list[Tagged]:
        group = self._group_of.get(name)
        if group is not None:
            return group.hold_fault(name, holder, reason, now, pending=pending)
        inst = self._instances[name]
        return _tag(inst, inst.hold_fault(holder, reason, now, pending=pending))

    def release_fault(self, name: str, holder: str, now: float) -> list[Tagged]:
        group = self._group_of.get(name)
        if group is not None:
            return group.release_fault(name, holder, now)
        inst = self._instances[name]
        return _tag(inst, inst.release_fault(holder, now))

    def hold_backup(self, name: str, hold: Hold, now: float) -> list[Tagged]:
        group = self._group_of.get(name)
        if group is not None:
            return group.hold_backup(name, hold, now)
        inst = self._instances[name]
        return _tag(inst, inst.hold_backup(hold, now))

    def release_backup(self, name: str, holder: str, now: float) -> list[Tagged]:
        group = self._group_of.get(name)
        if group is not None:
            return group.release_backup(name, holder, now)
        inst = self._instances[name]
        return _tag(inst, inst.release_backup(holder, now))

    def shutdown(self, now: float) -> list[Tagged]:
        out: list[Tagged] = []
        for group in self.groups.values():
            out += group.shutdown(now)
        for inst in self._standalone():
            out += _tag(inst, inst.shutdown(now))
        return out

    # -- readers ------------------------------------------------------------------------------

    def snapshot(self) -> tuple[InstanceSnapshot, ...]:
        return tuple(i.snapshot() for i in self._instances.values())

    def group_states(self) -> dict[str, State]:
        return {name: g.state for name, g in self.groups.items()}

    def _standalone(self) -> list[Instance]:
        return [i for n, i in self._instances.items() if n not in self._group_of]


def _tag(inst: Instance, actions: list[Action]) -> list[Tagged]:
    return [Tagged(source=inst.name, action=a) for a in actions]
