"""Time as an injected dependency.

Rules: cores never read the clock; drivers pass ``now`` in. ``Clock`` is what drivers depend on,
``MonotonicClock`` the real one, ``FakeClock`` the one tests move by hand.
"""

import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds on a monotonic scale; only differences are meaningful."""
        ...


class MonotonicClock:
    def now(self) -> float:
        return time.monotonic()


class FakeClock:
    """A clock that moves only when a test says so."""

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("a clock never goes back")
        self._now += seconds
        return self._now
