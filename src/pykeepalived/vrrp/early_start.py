"""Starting VRRP on what the receive sockets heard before the daemon was ready.

Rules: pure (no sockets, no clock): the driver (``node``) hands in what each transport queued
since process start (``EarlyReceived``) and ``now``; this decides when each unit's
Master_Down_Interval began and in which order, at which instants, the queued adverts are
given to the cores. Why: ``kernel.vrrp_listen``.
"""

from collections.abc import Hashable, Mapping, Sequence
from typing import TypeVar

from pykeepalived.kernel.ports import EarlyReceived, Received

Key = TypeVar("Key", bound=Hashable)


def start_time(heard: Sequence[EarlyReceived | None], *, resumed: bool, now: float) -> float:
    """When a unit's Master_Down_Interval starts counting: when all of its sockets began
    listening, if each did so at process start and lost nothing since (RFC 5798 6.4.2 asks
    for that long a silence heard, not for that long a running daemon); else ``now``. A unit
    resumed from a reload's predecessor keeps its own timing."""
    if resumed or not heard or any(h is None or not h.complete for h in heard):
        return now
    return min(now, max(h.since for h in heard if h is not None))


def overflowed(heard: Sequence[EarlyReceived | None]) -> bool:
    return any(h is not None and not h.complete for h in heard)


def in_arrival_order(
    early: Mapping[Key, EarlyReceived], now: float
) -> list[tuple[float, Key, Received]]:
    """Every queued advert of every socket, oldest first (an unstamped one counts as now)."""
    heard = [(rx.arrived if rx.arrived is not None else now, key, rx)
             for key, e in early.items() for rx in e.adverts]  # fmt: skip
    heard.sort(key=lambda item: item[0])
    return heard


def replay_instant(arrived: float, *, unit_start: float, previous: float, now: float) -> float:
    """The instant a queued advert is given to its unit's core: its arrival, never before the
    unit started or the unit's previous advert, never after ``now``."""
    return max(unit_start, previous, min(arrived, now))
