"""What the check runner runs and reports: the values that cross its boundary.

Rules: plain values and one pure function, no I/O. ``Check`` is one checker as the daemon
builds it (``check.catalog.make_check``); ``RunnerStats``, ``CheckEvent`` and ``CheckStatus``
are what ``check.runner.CheckRunner`` gives back. ``runner`` re-exports them all.
"""

import hashlib
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass

from pykeepalived.check.hysteresis import Event, HysteresisParams
from pykeepalived.check.result import ProbeResult

Done = Callable[[ProbeResult], None]
Abort = Callable[[], None]
Starter = Callable[[Done], Abort]
"""A probe in callback form: ``start(done)`` begins it and returns ``abort``; ``done(result)``
comes exactly once (possibly before ``start`` returns) unless ``abort`` was called first. It
keeps no timer: the runner cuts it at ``timeout_s``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Check:
    """One checker: its identity, how to probe, its hysteresis, its own timeout.

    ``start``, when set, is the same probe in callback form (``Starter``): the runner then
    runs it without a task, a coroutine or a timer of its own (the hot path: HTTP_GET judged
    on the status, TCP_CHECK); ``probe`` stays the reference form, used under
    ``max_in_flight``.
    """

    key: Hashable
    probe: Callable[[], Awaitable[ProbeResult]]
    hysteresis: HysteresisParams
    timeout_s: float
    start: Starter | None = None

    def __post_init__(self) -> None:
        if self.timeout_s <= 0:
            raise ValueError("timeout_s must be > 0")


@dataclass(slots=True)
class RunnerStats:
    """Counters since start; read them, do not write them."""

    started: int = 0
    started_late: int = 0
    max_lateness_s: float = 0.0
    done: int = 0
    failed: int = 0
    voided: int = 0  # failures judged too late to count (see runner.LATE_VERDICT_S)


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckEvent:
    """A checker's state change, with the probe result that caused it."""

    key: Hashable
    event: Event
    result: ProbeResult


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckStatus:
    """Read-only view of one checker for snapshots and metrics."""

    key: Hashable
    up: bool
    phase: str
    last: ProbeResult | None
    probes: int
    probes_failed: int = 0
    latency_sum_s: float = 0.0
    latency_buckets: tuple[tuple[str, int], ...] = ()  # (le, probes at most that long), +Inf last


def spread_fraction(key: Hashable) -> float:
    """A stable value in [0, 1) for a key: its warmup position (``repr`` must be stable)."""
    digest = hashlib.blake2b(repr(key).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64
