"""One checker's runtime state inside ``check.runner``: the runner's own, never shared.

Rules: plain mutable state, no logic. The runner's heaps point at slots, so its hot path
reaches a checker without hashing its key.
"""

import asyncio

from pykeepalived.check.hysteresis import Hysteresis
from pykeepalived.check.latency import ProbeTally
from pykeepalived.check.result import ProbeResult
from pykeepalived.check.spec import Abort, Check, Done


class Slot:
    """One checker's runtime state; heap entries point here, so the hot path never hashes."""

    __slots__ = (
        "abort", "began", "check", "count", "done", "flight", "last", "live", "name", "poked",
        "seq", "state", "tally", "task", "voids",
    )  # fmt: skip

    def __init__(self, check: Check, state: Hysteresis) -> None:
        self.check = check
        self.state = state
        self.name = f"check:{check.key!r}"
        self.seq = 0  # of its live heap entry; 0: none
        self.task: asyncio.Task[None] | None = None
        self.last: ProbeResult | None = None
        self.count = 0
        self.tally = ProbeTally()  # every counted result: ok/failed, latency histogram
        self.poked = False  # poked while in flight: probe again on return
        self.live = True  # False once removed
        self.voids = 0  # late failures voided in a row
        # callback form (Check.start): the probe in flight, its abort, its start time, and
        # the one ``done`` callback of this slot (built once, not per probe)
        self.flight = 0  # token of the callback probe in flight; 0: none
        self.abort: Abort | None = None
        self.began = 0.0
        self.done: Done | None = None
