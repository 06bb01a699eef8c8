"""What the daemon remembers of its recent past: VRRP transitions and a ring of events.

Rules: values and a bounded ring only, no I/O. Apart from ``state`` (the readers' snapshot
types, which re-exports these) so that VRRP's start, which records transitions from its first
instant, does not import the snapshot and LVS types (docs/benchmarks.md, start-up imports).
"""

import time
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class Transition:
    at: float  # wall clock (time.time())
    old: str
    new: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    at: float
    kind: str  # "vrrp", "check", "lvs", "daemon", "api"
    message: str


class EventLog:
    """A bounded ring of recent events (oldest dropped first)."""

    def __init__(self, size: int = 200) -> None:
        self._events: deque[Event] = deque(maxlen=size)

    def add(self, kind: str, message: str, at: float | None = None) -> Event:
        event = Event(at=time.time() if at is None else at, kind=kind, message=message)
        self._events.append(event)
        return event

    def recent(self) -> tuple[Event, ...]:
        return tuple(self._events)
