"""One asyncio scheduler for every health check: probes on time, none waiting for another.

Rules: the runner owns *when* (a heap of due times fed by each checker's ``Hysteresis``) and
*isolation* (no probe waits for another; each is cut at its timeout); the hysteresis owns
*what a result means*; the caller owns *what to do* with state changes (``emit`` gets every
event, in order per checker). It never imports a concrete probe: a ``Check`` carries a
zero-argument coroutine function and, for the hot checkers, the same probe in callback form.

Two ways to run a probe: a coroutine probe is its own named task under one TaskGroup, cut
by the runner's watchdog (``check.watchdog``) ``HARD_TIMEOUT_GRACE_S`` after its own
timeout; a callback probe (``Check.start``, see ``check.spec.Starter``) is started from the
scheduler's callback, with no task, and the runner aborts it at ``timeout_s`` itself (that is
its timeout result).

Spread: each checker's first probe waits ``start_delay_s + warmup_s * fraction``, ``fraction``
a stable hash of its key: 10,000 checkers at delay_loop 1 s start spread over the second,
the same way run after run; each re-arms from its own completion, so the spread persists.

Cost (10,000 probes a second is the goal): the scheduler is one timer callback; a finished
probe costs a heap push, no wake-up; timeouts are deadline heaps swept by that callback; a
callback probe costs no task, coroutine or future; the hot path reaches a checker's slot
without hashing its key; ``freeze_gc`` keeps long-lived state out of full collections.

Stats: ``stats`` counts probes started, started more than ``late_after_s`` after their due
time (when the task first runs, or the scheduler starts a callback probe: loop lag counts),
finished, failed and voided: the figures a metrics page and the bench need.

Shutdown: set the ``stop`` event; in-flight probes are cancelled or aborted (MISC_CHECK kills
its process group on cancel) and ``run`` returns once they are gone.
"""

import asyncio
import functools
import gc
import heapq
import logging
from collections.abc import Callable, Hashable, Iterable

from pykeepalived.check.hysteresis import Hysteresis
from pykeepalived.check.result import ProbeResult
from pykeepalived.check.slot import Slot
from pykeepalived.check.spec import (
    Abort,
    Check,
    CheckEvent,
    CheckStatus,
    Done,
    RunnerStats,
    Starter,
    spread_fraction,
)
from pykeepalived.check.watchdog import HARD_TIMEOUT_GRACE_S, Watchdog
from pykeepalived.clock import Clock, MonotonicClock

__all__ = [
    "HARD_TIMEOUT_GRACE_S", "Abort", "Check", "CheckEvent", "CheckRunner", "CheckStatus", "Done",
    "RunnerStats", "Starter", "spread_fraction",
]  # fmt: skip

log = logging.getLogger(__name__)

TICK_S = 0.01
"""The scheduler wakes at most this often: probes due within a tick start together, up to
10 ms late, and 10,000 probes a second cost 100 wake-ups instead of 10,000. A wake-up costs
~50-100 us here (epoll_wait, the loop's turn): 5 ms ticks cost 6-12 us more per check at
1,000 checks a second (bench/checks.py, load 5)."""

LATE_VERDICT_S = 0.25
"""A failed probe that took this much longer than its own timeout was timed by a loop running
late (CPU starvation, a stall), not by the server: it is voided and retried after
delay_before_retry, at most ``MAX_VOIDS`` times in a row, so an overloaded checker does not
drain a healthy pool."""

MAX_VOIDS = 3

MAX_LAUNCH_PER_TICK = 256
"""A backlog (the loop was stalled) starts at most this many probes per tick, so replies are
read between the bursts of connects; 256 per 10 ms is still 25,600 probes a second."""


class CheckRunner:
    """Runs checks until ``stop``; see the module rules."""

    def __init__(
        self,
        checks: Iterable[Check],
        emit: Callable[[CheckEvent], None],
        *,
        clock: Clock | None = None,
        max_in_flight: int | None = None,
        late_after_s: float = 0.1,
        freeze_gc: bool = False,
    ) -> None:
        self._clock = clock or MonotonicClock()
        self.stats = RunnerStats()
        self._late_after_s = late_after_s
        self._emit = emit
        self._checks: dict[Hashable, Check] = {}
        for check in checks:
            if check.key in self._checks:
                raise ValueError(f"duplicate check key {check.key!r}")
            self._checks[check.key] = check
        self._limit = asyncio.Semaphore(max_in_flight) if max_in_flight else None
        self._slots: dict[Hashable, Slot] = {}
        self._heap: list[tuple[float, int, Slot]] = []
        self._seq = 0
        self._watchdog = Watchdog(self._clock, second_chance_s=TICK_S)  # coroutine probes
        self._cuts: list[tuple[float, int, Slot]] = []  # (deadline, flight, slot): callbacks
        self._ticking = False  # in _tick, which re-arms the timer once at its end
        self._tg: asyncio.TaskGroup | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = float("inf")
        self._warned_at = float("-inf")
        self._freeze_gc = freeze_gc
        self._freeze_pending = False

    def initial_states(self) -> dict[Hashable, bool]:
        """Each checker's state before any probe (alpha: down), for the aggregators."""
        return {key: not c.hysteresis.alpha for key, c in self._checks.items()}

    def status(self) -> list[CheckStatus]:
        return [
            CheckStatus(
                key=key, up=slot.state.is_up, phase=slot.state.phase.value, last=slot.last,
                probes=slot.count, probes_failed=slot.tally.failed,
                latency_sum_s=slot.tally.sum_s, latency_buckets=slot.tally.cumulative(),
            )
            for key, slot in self._slots.items()
        ]  # fmt: skip

    def add(self, check: Check) -> None:
        """Add a checker (reload); it starts like any other, warmup included."""
        if check.key in self._checks:
            raise ValueError(f"duplicate check key {check.key!r}")
        self._checks[check.key] = check
        if self._tg is not None:
            self._start(check, self._clock.now())
            self.freeze_soon()

    def remove(self, key: Hashable) -> None:
        """Forget a checker (reload): its probe in flight is cancelled, its events stop.

        A changed checker is ``remove`` then ``add``; an unchanged one is left alone and keeps
        its state, which is how a reload avoids flapping.
        """
        del self._checks[key]
        slot = self._slots.pop(key, None)
        if slot is None:
            return
        slot.live = False
        self._abort(slot)
        slot.done = None  # slot -> done -> slot: no cycle left for a frozen collector to keep
        if slot.task is not None:
            slot.task.cancel()

    def poke(self, key: Hashable) -> None:
        """Probe ``key`` now rather than at its due time (FILE_CHECK's inotify, "check now").

        A probe in flight may have read stale data, so it is followed by another at once.
        Unknown keys are ignored: a watcher may outlive a reload.
        """
        slot = self._slots.get(key)
        if slot is None:
            return
        if slot.state.expedite(self._clock.now()):
            self._push(slot)
        else:
            slot.poked = True

    async def run(self, stop: asyncio.Event) -> None:
        try:
            async with asyncio.TaskGroup() as tg:
                self._tg = tg
                now = self._clock.now()
                for check in self._checks.values():
                    self._start(check, now)
                self.freeze_soon()
                await stop.wait()
                self._tg = None
                self._disarm()
                for slot in self._slots.values():
                    if slot.task is not None:
                        slot.task.cancel()
        finally:
            self._tg = None
            self._disarm()
            for slot in self._slots.values():
                self._abort(slot)

    def freeze_soon(self) -> None:
        """``freeze_gc``: ``gc.freeze()`` everything once the current changes are done; the
        runner calls it after start and ``add``, the daemon after a reload swapped its config
        (why: docs/health-checks.md, "Cost": full collections of 200-350 ms made probes late)."""
        if self._freeze_gc and not self._freeze_pending and self._tg is not None:
            self._freeze_pending = True
            asyncio.get_running_loop().call_soon(self._freeze)

    def _freeze(self) -> None:
        self._freeze_pending = False
        gc.freeze()  # O(1): the collector's lists are spliced, nothing is walked

    # -- scheduling ----------------------------------------------------------------------

    def _start(self, check: Check, now: float) -> None:
        h = Hysteresis(check.hysteresis, now=now, warmup_fraction=spread_fraction(check.key))
        slot = self._slots[check.key] = Slot(check, h)
        slot.done = functools.partial(self._landed, slot)
        self._push(slot)

    def _push(self, slot: Slot) -> None:
        self._seq += 1
        slot.seq = self._seq
        due = slot.state.next_due()
        heapq.heappush(self._heap, (due, self._seq, slot))
        if due < self._timer_at:
            self._arm(due)

    def _arm(self, at: float) -> None:
        """(Re)set the one timer to ``at`` (while running; a tick re-arms at its end)."""
        if self._tg is None or self._ticking:
            return
        self._disarm()
        self._timer_at = at
        delay = max(at - self._clock.now(), TICK_S)
        self._timer = asyncio.get_running_loop().call_later(delay, self._tick)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._timer_at = None, float("inf")

    def _tick(self) -> None:
        """The timer fired: launch what is due, cut what overran, re-arm for the next."""
        self._timer, self._timer_at = None, float("inf")
        if self._tg is None:
            return
        self._ticking = True
        try:
            now = self._clock.now()
            self._launch_due(now)
            self._cut_overdue(now)
        finally:  # even if emit raised (the loop logs it): the schedule must go on
            self._ticking = False
            nxt = min(self._heap[0][0] if self._heap else float("inf"),
                      self._cuts[0][0] if self._cuts else float("inf"),
                      self._watchdog.next_at())  # fmt: skip
            if nxt < float("inf"):
                self._arm(nxt)

    def _launch_due(self, now: float) -> None:
        tg = self._tg
        assert tg is not None
        heap = self._heap
        callbacks = self._limit is None  # under max_in_flight every probe takes the semaphore
        for _ in range(MAX_LAUNCH_PER_TICK):
            if not heap or heap[0][0] > now:
                break
            due, seq, slot = heapq.heappop(heap)
            if slot.seq == seq and slot.live:  # else removed or re-pushed: a stale entry
                slot.seq = 0
                slot.state.begin(now)
                if callbacks and slot.check.start is not None:
                    self._launch(slot, due, now)
                else:
                    slot.task = tg.create_task(self._probe_once(slot, due), name=slot.name)

    def _cut_overdue(self, now: float) -> None:
        cuts = self._cuts
        while cuts and cuts[0][0] <= now:
            _, flight, slot = heapq.heappop(cuts)
            if slot.flight == flight:  # else it landed already
                self._cut(slot, now)
        self._watchdog.sweep(now)

    # -- one probe -----------------------------------------------------------------------

    def _started(self, due: float) -> None:
        stats = self.stats
        stats.started += 1
        late = self._clock.now() - due
        if late > self._late_after_s:
            stats.started_late += 1
        if late > stats.max_lateness_s:
            stats.max_lateness_s = late

    async def _probe_once(self, slot: Slot, due: float) -> None:
        self._started(due)
        task = slot.task
        assert task is not None
        try:
            if self._limit is None:
                result = await self._bounded(task, slot.check)
            else:
                async with self._limit:
                    result = await self._bounded(task, slot.check)
        finally:
            slot.task = None
        if slot.live:  # else removed (or replaced) while the probe ran: its result is moot
            self._judge(slot, result)

    # -- one probe, callback form (Check.start) ------------------------------------------

    def _launch(self, slot: Slot, due: float, now: float) -> None:
        self._started(due)
        self._seq += 1
        flight = slot.flight = self._seq
        slot.began = now
        start, done = slot.check.start, slot.done
        assert start is not None
        assert done is not None
        try:
            abort = start(done)
        except Exception as exc:
            log.exception("probe for %r raised (a bug in it or in what its result ran)",
                          slot.check.key)  # fmt: skip
            done(ProbeResult(ok=False, reason=f"probe error: {type(exc).__name__}"))
            return
        if slot.flight == flight:  # still in flight (else it landed within start)
            slot.abort = abort
            heapq.heappush(self._cuts, (now + slot.check.timeout_s, flight, slot))

    def _landed(self, slot: Slot, result: ProbeResult) -> None:
        """A callback probe's ``done``."""
        if not slot.flight:
            return  # called twice or after abort: the probe's bug, and nothing to do
        slot.flight, slot.abort = 0, None
        if slot.live:
            self._judge(slot, result)

    def _cut(self, slot: Slot, now: float) -> None:
        """A callback probe reached its timeout: abort it, and that is its result."""
        self._abort(slot)
        if slot.live:
            reason = f"timeout after {slot.check.timeout_s:g}s"
            self._judge(slot, ProbeResult(ok=False, reason=reason, latency_s=now - slot.began))

    def _abort(self, slot: Slot) -> None:
        abort = slot.abort
        slot.flight, slot.abort = 0, None
        if abort is not None:
            abort()

    # -- what a result means -------------------------------------------------------------

    def _judge(self, slot: Slot, result: ProbeResult) -> None:
        """Void a late failure, or count the result, feed the hysteresis, re-arm, emit."""
        stats = self.stats
        if self._late_failure(slot, result):
            stats.voided += 1
            # retried as a failed probe is (delay_before_retry): soon, without adding load
            slot.state.void(self._clock.now(), slot.check.hysteresis.delay_before_retry_s)
            self._push(slot)
            return
        slot.voids = 0
        stats.done += 1
        if not result.ok:
            stats.failed += 1
        state = slot.state
        events = state.record(result, self._clock.now())
        slot.last = result
        slot.count += 1
        slot.tally.observe(result)
        if slot.poked:
            slot.poked = False
            state.expedite(self._clock.now())
        self._push(slot)  # before emitting: a bug in what emit runs must not lose the slot
        for event in events:
            self._emit(CheckEvent(key=slot.check.key, event=event, result=result))

    def _late_failure(self, slot: Slot, result: ProbeResult) -> bool:
        if result.ok or result.latency_s <= slot.check.timeout_s + LATE_VERDICT_S:
            return False
        if slot.voids >= MAX_VOIDS:
            return False
        slot.voids += 1
        now = self._clock.now()
        if now - self._warned_at > 10.0:
            self._warned_at = now
            log.warning(
                "checks judged late (%.2fs for a %gs timeout): the loop is overloaded; "
                "retrying instead of failing", result.latency_s, slot.check.timeout_s,
            )  # fmt: skip
        return True

    async def _bounded(self, task: asyncio.Task[None], check: Check) -> ProbeResult:
        deadline = self._watchdog.watch(task, check)
        if deadline < self._timer_at:
            self._arm(deadline)
        return await self._watchdog.bounded(task, check)
