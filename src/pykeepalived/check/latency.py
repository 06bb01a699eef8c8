"""A running tally of one checker's probe results: ok / failed counts and a latency histogram.

Rules: pure, no clock. The runner feeds it every result it counts (the one place results pass,
so the histogram holds every probe, not a sample of them); readers copy it into snapshots. The
cost on the hot path is one bisect over 13 bounds and two increments.
"""

from bisect import bisect_left
from itertools import accumulate

from pykeepalived.check.result import ProbeResult

LATENCY_BOUNDS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Upper bounds (inclusive, Prometheus ``le``) of the latency buckets; one more for +Inf."""
_LE = (*(repr(b) for b in LATENCY_BOUNDS_S), "+Inf")


class ProbeTally:
    __slots__ = ("buckets", "failed", "ok", "sum_s")

    def __init__(self) -> None:
        self.ok = 0
        self.failed = 0
        self.sum_s = 0.0
        self.buckets = [0] * (len(LATENCY_BOUNDS_S) + 1)  # per bucket, not cumulative

    def observe(self, result: ProbeResult) -> None:
        if result.ok:
            self.ok += 1
        else:
            self.failed += 1
        self.sum_s += result.latency_s
        self.buckets[bisect_left(LATENCY_BOUNDS_S, result.latency_s)] += 1

    def cumulative(self) -> tuple[tuple[str, int], ...]:
        """``(le, count of probes at most that long)`` as Prometheus writes them, +Inf last."""
        return tuple(zip(_LE, accumulate(self.buckets), strict=True))
