"""One asyncio scheduler for every health check: probes on time, none waiting for another.

Rules: the runner owns *when* (a heap of due times fed by each checker's ``Hysteresis``) and
*isolation* (every probe is its own named task under one TaskGroup, bounded by a hard
``asyncio.timeout``); the hysteresis owns *what a result means*; the caller owns *what to do*
with state changes (``emit`` gets every event, in order per checker). It never imports a
concrete probe: a ``Check`` carries a zero-argument coroutine function.

Spread: each checker's first probe waits ``start_delay_s + warmup_s * fraction`` where
``fraction`` is a stable hash of its key, so 10,000 checkers at delay_loop 1 s start spread
over the second, deterministically (same keys, same schedule, run after run); afterwards each
re-arms from its own completion time, so the spread persists.

Shutdown: set the ``stop`` event; in-flight probes are cancelled (MISC_CHECK kills its process
group on cancel) and ``run`` returns once they are gone.
"""

import asyncio
import contextlib
import hashlib
import heapq
import logging
from collections.abc import Awaitable, Callable, Hashable, Iterable
from dataclasses import dataclass

from pykeepalived.check.hysteresis import Event, Hysteresis, HysteresisParams
from pykeepalived.check.result import ProbeResult
from pykeepalived.clock import Clock, MonotonicClock

log = logging.getLogger(__name__)

HARD_TIMEOUT_GRACE_S = 0.5
"""Slack over a probe's own timeout before the runner cuts it: a probe bounds itself first."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Check:
    """One checker: its identity, how to probe, its hysteresis, its own timeout."""

    key: Hashable
    probe: Callable[[], Awaitable[ProbeResult]]
    hysteresis: HysteresisParams
    timeout_s: float

    def __post_init__(self) -> None:
        if self.timeout_s <= 0:
            raise ValueError("timeout_s must be > 0")


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


def spread_fraction(key: Hashable) -> float:
    """A stable value in [0, 1) for a key: its warmup position (``repr`` must be stable)."""
    digest = hashlib.blake2b(repr(key).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


class CheckRunner:
    """Runs checks until ``stop``; see the module rules."""

    def __init__(
        self,
        checks: Iterable[Check],
        emit: Callable[[CheckEvent], None],
        *,
        clock: Clock | None = None,
        max_in_flight: int | None = None,
    ) -> None:
        self._clock = clock or MonotonicClock()
        self._emit = emit
        self._checks: dict[Hashable, Check] = {}
        for check in checks:
            if check.key in self._checks:
                raise ValueError(f"duplicate check key {check.key!r}")
            self._checks[check.key] = check
        self._limit = asyncio.Semaphore(max_in_flight) if max_in_flight else None
        self._states: dict[Hashable, Hysteresis] = {}
        self._last: dict[Hashable, ProbeResult] = {}
        self._count: dict[Hashable, int] = {}
        self._heap: list[tuple[float, int, Hashable]] = []
        self._queued: dict[Hashable, int] = {}  # key -> seq of its live heap entry
        self._seq = 0
        self._in_flight: dict[Hashable, asyncio.Task[None]] = {}
        self._wake = asyncio.Event()
        self._running = False
        self._poked: set[Hashable] = set()  # poked while in flight: probe again on return

    def initial_states(self) -> dict[Hashable, bool]:
        """Each checker's state before any probe (alpha: down), for the aggregators."""
        return {key: not c.hysteresis.alpha for key, c in self._checks.items()}

    def status(self) -> list[CheckStatus]:
        return [
            CheckStatus(
                key=key, up=h.is_up, phase=h.phase.value, last=self._last.get(key),
                probes=self._count.get(key, 0),
            )
            for key, h in self._states.items()
        ]  # fmt: skip

    def add(self, check: Check) -> None:
        """Add a checker (reload); it starts like any other, warmup included."""
        if check.key in self._checks:
            raise ValueError(f"duplicate check key {check.key!r}")
        self._checks[check.key] = check
        if self._running:
            self._start(check.key, self._clock.now())
            self._wake.set()

    def remove(self, key: Hashable) -> None:
        """Forget a checker (reload): its probe in flight is cancelled, its events stop.

        A changed checker is ``remove`` then ``add``; an unchanged one is left alone and keeps
        its state, which is how a reload avoids flapping.
        """
        del self._checks[key]
        self._states.pop(key, None)
        self._queued.pop(key, None)
        self._last.pop(key, None)
        self._count.pop(key, None)
        self._poked.discard(key)
        task = self._in_flight.pop(key, None)
        if task is not None:
            task.cancel()

    def poke(self, key: Hashable) -> None:
        """Probe ``key`` now rather than at its due time (FILE_CHECK's inotify, "check now").

        A probe in flight may have read stale data, so it is followed by another at once.
        Unknown keys are ignored: a watcher may outlive a reload.
        """
        state = self._states.get(key)
        if state is None:
            return
        if state.expedite(self._clock.now()):
            self._push(key)
            self._wake.set()
        else:
            self._poked.add(key)

    async def run(self, stop: asyncio.Event) -> None:
        now = self._clock.now()
        for key in self._checks:
            self._start(key, now)
        self._running = True
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._stopper(stop), name="check-runner:stop")
                await self._schedule(tg, stop)
                for task in self._in_flight.values():
                    task.cancel()
        finally:
            self._running = False

    def _start(self, key: Hashable, now: float) -> None:
        check = self._checks[key]
        h = Hysteresis(check.hysteresis, now=now, warmup_fraction=spread_fraction(key))
        self._states[key] = h
        self._push(key)

    async def _stopper(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self._wake.set()

    async def _schedule(self, tg: asyncio.TaskGroup, stop: asyncio.Event) -> None:
        """Launch what is due, then sleep until the next due time or a wake-up."""
        while not stop.is_set():
            now = self._clock.now()
            while self._heap and self._heap[0][0] <= now:
                _, seq, key = heapq.heappop(self._heap)
                if self._queued.get(key) == seq:  # else removed or re-added: a stale entry
                    del self._queued[key]
                    self._launch(tg, key, now)
            delay = self._heap[0][0] - now if self._heap else None
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wake.wait()

    def _push(self, key: Hashable) -> None:
        self._seq += 1
        self._queued[key] = self._seq
        heapq.heappush(self._heap, (self._states[key].next_due(), self._seq, key))

    def _launch(self, tg: asyncio.TaskGroup, key: Hashable, now: float) -> None:
        self._states[key].begin(now)
        task = tg.create_task(self._probe_once(key), name=f"check:{key!r}")
        self._in_flight[key] = task

    async def _probe_once(self, key: Hashable) -> None:
        check = self._checks[key]
        try:
            if self._limit is None:
                result = await self._bounded(check)
            else:
                async with self._limit:
                    result = await self._bounded(check)
        finally:
            if self._in_flight.get(key) is asyncio.current_task():
                del self._in_flight[key]
        state = self._states.get(key)
        if state is None or self._checks.get(key) is not check:
            return  # removed (or replaced) while the probe ran: its result is moot
        events = state.record(result, self._clock.now())
        self._last[key] = result
        self._count[key] = self._count.get(key, 0) + 1
        for event in events:
            self._emit(CheckEvent(key=key, event=event, result=result))
        if key in self._poked:
            self._poked.discard(key)
            state.expedite(self._clock.now())
        self._push(key)
        self._wake.set()

    async def _bounded(self, check: Check) -> ProbeResult:
        """The hard timeout; a probe that raises is a bug: logged loudly, counted as failure."""
        limit = check.timeout_s + HARD_TIMEOUT_GRACE_S
        try:
            async with asyncio.timeout(limit):
                return await check.probe()
        except TimeoutError:
            return ProbeResult(ok=False, reason=f"hard timeout after {limit:g}s", latency_s=limit)
        except Exception as exc:
            log.exception("probe for %r raised (a bug in the probe)", check.key)
            return ProbeResult(ok=False, reason=f"probe error: {type(exc).__name__}")
