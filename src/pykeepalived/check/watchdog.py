"""The runner's hard timeout for coroutine probes: one heap of deadlines, not a timer each.

Rules: a coroutine probe bounds itself (``guarded``'s ``asyncio.timeout``); the watchdog cuts
it ``HARD_TIMEOUT_GRACE_S`` later if it did not (a probe bug, a hung thread), by cancelling
its task, and turns that cancellation into a ``hard timeout`` result. It keeps no timer of its
own: the runner's scheduler calls ``sweep(now)`` and arms its one timer for ``next_at()``.
Callback probes (``Check.start``) are not its business: the runner cuts those itself.
"""

import asyncio
import heapq
import logging

from pykeepalived.check.result import ProbeResult
from pykeepalived.check.spec import Check
from pykeepalived.clock import Clock

log = logging.getLogger("pykeepalived.check.runner")  # its lines read as the runner's

HARD_TIMEOUT_GRACE_S = 0.5
"""Slack over a probe's own timeout before the runner cuts it: a probe bounds itself first."""


class Watchdog:
    """Deadlines of the coroutine probes in flight; see the module rules."""

    def __init__(self, clock: Clock, second_chance_s: float) -> None:
        self._clock = clock
        self._second_chance_s = second_chance_s
        self._seq = 0
        # (deadline, seq, task, late-loop second chance already given)
        self._deadlines: list[tuple[float, int, asyncio.Task[None], bool]] = []
        self._expired: set[asyncio.Task[None]] = set()  # cut by the watchdog

    def next_at(self) -> float:
        return self._deadlines[0][0] if self._deadlines else float("inf")

    def watch(self, task: asyncio.Task[None], check: Check) -> float:
        """Watch ``task`` running ``check``'s probe from now; returns its deadline."""
        self._seq += 1
        deadline = self._clock.now() + check.timeout_s + HARD_TIMEOUT_GRACE_S
        heapq.heappush(self._deadlines, (deadline, self._seq, task, False))
        return deadline

    def sweep(self, now: float) -> None:
        """Cut every watched task past its deadline."""
        deadlines = self._deadlines
        while deadlines and deadlines[0][0] <= now:
            deadline, _, task, retried = heapq.heappop(deadlines)
            if task.done():
                continue
            # A late loop runs this before the probe's own (earlier) timeout handle: give that
            # its turn first, so the result says "timeout", not the watchdog's "hard timeout".
            if not retried and (task.cancelling() or now - deadline > self._second_chance_s):
                self._seq += 1
                heapq.heappush(deadlines, (now + self._second_chance_s, self._seq, task, True))
                continue
            self._expired.add(task)
            task.cancel()

    async def bounded(self, task: asyncio.Task[None], check: Check) -> ProbeResult:
        """Run the probe of ``check`` in ``task`` (watched already); a cut is a failed result,
        and so is a probe that raises (a bug in the probe: logged loudly)."""
        start = self._clock.now()
        try:
            return await check.probe()
        except asyncio.CancelledError:
            if task not in self._expired:
                raise  # removed, or the runner stops
            self._expired.discard(task)
            task.uncancel()
            limit = check.timeout_s + HARD_TIMEOUT_GRACE_S
            # latency_s is the time the cut took, less the grace: "late" means as for the rest
            late = max(self._clock.now() - start - HARD_TIMEOUT_GRACE_S, 0.0)
            return ProbeResult(ok=False, reason=f"hard timeout after {limit:g}s", latency_s=late)
        except Exception as exc:
            log.exception("probe for %r raised (a bug in the probe)", check.key)
            return ProbeResult(ok=False, reason=f"probe error: {type(exc).__name__}")
