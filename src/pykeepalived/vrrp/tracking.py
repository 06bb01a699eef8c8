"""Tracking: from script results, link states and tracked files to effective priority and FAULT.

Rules: pure. This module turns the *observations* a driver makes (a script exited 0 or not, a
link is up or down, a file now holds a number) into a :class:`Verdict` for one instance: its
effective priority and the reasons, if any, it must be in FAULT. It never runs a script, reads a
file or watches a link, and it never touches the instance itself except through
:func:`apply_verdict`, which only calls the instance's public API.

keepalived 2.2.7's rules (``vrrp_track.c``, ``trackers/track_file.c``, keepalived.conf(5)):

- A boolean tracker (script, interface, process quorum, BFD) with weight 0 puts the instance in
  FAULT while it is down (while it is *up* with ``reverse``).
- With a weight, it adds to the configured priority: a positive weight when up, a negative weight
  when down; ``reverse`` flips the sign of the adjustment.
- A weight-0 script that has not reported yet holds the instance in FAULT as *pending*
  (keepalived's "script init" state: an address owner whose first result is OK then goes MASTER
  at once); a weighted one contributes nothing until its first result.
- A tracked file's number is multiplied by the weight (and by -1 with ``reverse``), clamped to
  -254..253; -254 or less means FAULT, anything else is added. With weight 0, a non-zero number
  means FAULT (a zero number with ``reverse``).
- The sum is clamped to 1..254. An address owner (priority 255) keeps 255 whatever the weights
  say (keepalived ``vrrp_set_effective_priority``); its weight-0 faults still apply.
- A vrrp_script result goes through rise/fall counting (:class:`ScriptResult`) first.
"""

from dataclasses import dataclass
from enum import Enum

from pykeepalived.vrrp.events import Action
from pykeepalived.vrrp.instance import Instance
from pykeepalived.vrrp.timing import PRIO_OWNER

TRACKING_HOLDER = "tracking"
_FILE_FAULT = -254
_FILE_MAX = 253


class Kind(Enum):
    SCRIPT = "script"
    INTERFACE = "interface"
    FILE = "file"
    PROCESS = "process"
    BFD = "bfd"


# keepalived.conf(5): track_file's own weight is a 32-bit int; the others are bounded by priority.
_WEIGHT_LIMITS = {
    Kind.SCRIPT: 253,
    Kind.INTERFACE: 253,
    Kind.BFD: 253,
    Kind.PROCESS: 254,
    Kind.FILE: 2**31 - 1,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Track:
    """One ``track_*`` entry of an instance: what is tracked, with which weight and direction."""

    kind: Kind
    name: str
    weight: int = 0
    reverse: bool = False

    def __post_init__(self) -> None:
        limit = _WEIGHT_LIMITS[self.kind]
        if not -limit <= self.weight <= limit:
            raise ValueError(f"weight {self.weight} of {self.kind.value} {self.name} out of range")


@dataclass(frozen=True, slots=True, kw_only=True)
class Effect:
    """What one tracker does to an instance: a priority delta, a FAULT reason, or ``pending``:
    the tracker has no result yet and holds the instance down without counting as a failure."""

    delta: int = 0
    fault: str | None = None
    pending: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    """Effective priority and FAULT reasons (empty: not faulty) for one instance; ``pending``
    lists trackers still without a result (FAULT too, but keepalived's "script init")."""

    priority: int
    faults: tuple[str, ...] = ()
    pending: tuple[str, ...] = ()


def boolean_effect(track: Track, up: bool | None) -> Effect:
    """Script/interface/process/BFD: ``up`` None means "no result yet" (script init)."""
    if up is None:
        if track.weight:
            return Effect()
        return Effect(pending=f"{track.kind.value} {track.name} has no result yet")
    multiplier = -1 if track.reverse else 1
    if not track.weight:
        if up != (multiplier == 1):
            state = "up" if up else "down"
            return Effect(fault=f"{track.kind.value} {track.name} {state}")
        return Effect()
    if (track.weight > 0) == up:
        return Effect(delta=track.weight * multiplier)
    return Effect()


def file_effect(track: Track, value: int) -> Effect:
    """A tracked file holding ``value`` (keepalived reads it with strtol; 0 if unreadable)."""
    multiplier = -1 if track.reverse else 1
    if not track.weight:
        if (value != 0) == (multiplier == 1):  # keepalived reports the computed status, -254
            return Effect(fault=f"tracked file {track.name} has status {_FILE_FAULT}")
        return Effect()
    status = max(_FILE_FAULT, min(_FILE_MAX, value * track.weight * multiplier))
    if status <= _FILE_FAULT:
        return Effect(fault=f"tracked file {track.name} has status {status}")
    return Effect(delta=status)


def verdict(base_priority: int, effects: list[Effect]) -> Verdict:
    """Combine the effects: sum the deltas onto the base priority, clamp, collect faults."""
    faults = tuple(e.fault for e in effects if e.fault is not None)
    pending = tuple(e.pending for e in effects if e.pending is not None)
    if base_priority == PRIO_OWNER:
        return Verdict(priority=PRIO_OWNER, faults=faults, pending=pending)
    total = base_priority + sum(e.delta for e in effects if e.fault is None)
    priority = max(1, min(PRIO_OWNER - 1, total))
    return Verdict(priority=priority, faults=faults, pending=pending)


def apply_verdict(instance: Instance, result: Verdict, now: float) -> list[Action]:
    """Feed a verdict to a standalone instance: priority first, then fault hold or release.

    Sync-group members go through ``SyncGroup.apply_verdict`` so the whole group follows.
    """
    actions = instance.set_priority(result.priority, now)
    if result.faults or result.pending:
        reason = "; ".join(result.faults + result.pending)
        pending = not result.faults
        return actions + instance.hold_fault(TRACKING_HOLDER, reason, now, pending=pending)
    return actions + instance.release_fault(TRACKING_HOLDER, now)


class ScriptResult:
    """Rise/fall counting of one vrrp_script's exits (keepalived ``vrrp_script_child_thread``).

    ``rise`` consecutive successes make a failed script OK, ``fall`` consecutive failures make an
    OK script failed. Before the first result the state is None (init); the first result decides
    at once, unless ``init_fail`` (the script starts failed and needs ``rise`` successes).
    """

    def __init__(self, *, rise: int = 1, fall: int = 1, init_fail: bool = False) -> None:
        if rise < 1 or fall < 1:
            raise ValueError("rise and fall must be >= 1")
        self.rise = rise
        self.fall = fall
        self._count = 0 if init_fail else rise - 1
        self.ok: bool | None = False if init_fail else None

    def record(self, success: bool) -> bool | None:
        """Count one exit; return the new state if it changed, else None."""
        top = self.rise + self.fall - 1
        before = self.ok
        if success:
            if self._count < self.rise - 1:
                self._count += 1
            else:
                self._count = top
                self.ok = True
        elif self._count > self.rise:
            self._count -= 1
        else:
            self._count = 0
            self.ok = False
        return self.ok if self.ok != before else None


def script_log(name: str, ok: bool, *, status: int | None = None, signal: int | None = None) -> str:
    """keepalived's line when a vrrp_script changes state (``VRRP_Script(chk) succeeded``...).

    ``status``: the exit status of a failure; ``signal``: the signal that killed it; neither:
    the script timed out.
    """
    if ok:
        return f"VRRP_Script({name}) succeeded"
    if status is not None:
        return f"VRRP_Script({name}) failed (exited with status {status})"
    if signal is not None:
        return f"VRRP_Script({name}) failed (due to signal {signal})"
    return f"VRRP_Script({name}) timed_out"


_DEFAULTS: dict[Kind, bool | int | None] = {
    Kind.SCRIPT: None,  # no result yet
    Kind.INTERFACE: True,
    Kind.FILE: 0,
    Kind.PROCESS: None,
    Kind.BFD: None,
}


class InstanceTracking:
    """The latest observation of every tracker of one instance, and the verdict they give.

    The driver feeds observations (a script's state after :class:`ScriptResult`, a link's up
    flag, a file's number) with :meth:`observe`; a changed verdict comes back to be applied.
    """

    def __init__(self, base_priority: int, tracks: list[Track]) -> None:
        keys = [(t.kind, t.name) for t in tracks]
        if len(set(keys)) != len(keys):
            raise ValueError("a tracker is listed twice")
        self.base_priority = base_priority
        self._tracks = {(t.kind, t.name): t for t in tracks}
        self._seen: dict[tuple[Kind, str], bool | int | None] = {
            key: _DEFAULTS[key[0]] for key in self._tracks
        }
        self._last = self.verdict()

    def verdict(self) -> Verdict:
        return verdict(self.base_priority, [self._effect(key) for key in self._tracks])

    def observe(self, kind: Kind, name: str, value: bool | int | None) -> Verdict | None:
        """Record one observation; return the new verdict if it changed. Unknown: ignored."""
        key = (kind, name)
        if key not in self._tracks:
            return None
        self._seen[key] = value
        new = self.verdict()
        if new == self._last:
            return None
        self._last = new
        return new

    def _effect(self, key: tuple[Kind, str]) -> Effect:
        track, value = self._tracks[key], self._seen[key]
        if key[0] is Kind.FILE:
            return file_effect(track, int(value or 0))
        return boolean_effect(track, None if value is None else bool(value))
