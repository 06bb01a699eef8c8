"""One checker's up/down logic, shared by every probe type (keepalived's copy lives in 7 files).

Rules: pure and sans-I/O. It owns: when the next probe is due, whether the checker is up, and
the dynamic weight a checker reported. It never runs a probe, reads a clock or draws a random
number: the driver passes ``now`` and the warmup fraction in. An impossible call order (a result
without a probe in flight) is a bug in the driver and raises.

Semantics (keepalived ``check_tcp.c``/``check_misc.c`` epilogs, read for facts):

* **delay_loop**: after a probe completes with nothing pending, the next one runs
  ``delay_loop_s`` after that completion (keepalived re-arms its timer at the end of a check),
  moved by at most ``phase_lock`` x delay_loop (default 5 %) toward the checker's own slot
  (its first due time + k x delay_loop). Why: probes launched together once (a stalled loop,
  a burst of timeouts) would otherwise stay together for ever; the pull re-spreads them
  within a few rounds, and with a fast probe it makes the period start-to-start exact.
  ``phase_lock=0`` is keepalived's timing to the letter.
* **retry / delay_before_retry**: a checker that is up and sees a failure re-probes
  ``retry`` more times, ``delay_before_retry_s`` apart. Only when the probe and all of its
  retries failed is the *round* failed. A success anywhere resets the count.
* **fall** (extension, default 1 = keepalived): the checker goes down after ``fall`` consecutive
  failed rounds, rounds ``delay_loop_s`` apart. So a checker goes down after
  ``fall * (retry + 1)`` consecutive failed probes; ``retry`` absorbs a lost packet fast,
  ``fall`` a sick server slowly. Both together simply multiply.
* **rise** (extension, default 1 = keepalived): a down checker goes up after ``rise``
  consecutive successes, ``delay_loop_s`` apart (keepalived never retries a down checker).
  A failure resets the count.
* **alpha**: start down instead of up.
* **first result**: as keepalived (``retry_it = retry`` at start), the very first failure is
  decisive whatever retry/fall say: an unproven server gets no benefit of the doubt. The first
  success brings an alpha checker up only once ``rise`` successes have been seen (the first
  counts); a non-alpha checker is up already and the first success confirms it.
* **warmup**: the first probe runs ``start_delay_s + warmup_s * fraction`` after creation,
  ``fraction`` in [0, 1) supplied by the driver (keepalived: ``random()``; our runner uses a
  stable hash, so tests and restarts are deterministic). ``warmup_s`` defaults to delay_loop.
* **dynamic weight**: any successful result carries the weight it wants; a change is reported.
  When the checker goes down, its weight falls back to the configured one (keepalived resets
  ``cur_weight``).
"""

import enum
from dataclasses import dataclass

from pykeepalived.check.result import ProbeResult

BOOTSTRAP_DELAY_S = 1.0
"""keepalived's ``BOOTSTRAP_DELAY``: every checker waits this long after start."""


@dataclass(frozen=True, slots=True, kw_only=True)
class HysteresisParams:
    """Per-checker timing, named after keepalived's keywords (times in seconds)."""

    delay_loop_s: float = 60.0
    retry: int = 1
    delay_before_retry_s: float = 1.0
    warmup_s: float | None = None
    alpha: bool = False
    rise: int = 1
    fall: int = 1
    start_delay_s: float = BOOTSTRAP_DELAY_S
    phase_lock: float = 0.05

    def __post_init__(self) -> None:
        if self.delay_loop_s <= 0:
            raise ValueError("delay_loop_s must be > 0")
        if self.retry < 0:
            raise ValueError("retry must be >= 0")
        if self.delay_before_retry_s < 0:
            raise ValueError("delay_before_retry_s must be >= 0")
        if self.warmup_s is not None and self.warmup_s < 0:
            raise ValueError("warmup_s must be >= 0")
        if self.rise < 1 or self.fall < 1:
            raise ValueError("rise and fall must be >= 1")
        if self.start_delay_s < 0:
            raise ValueError("start_delay_s must be >= 0")
        if not 0 <= self.phase_lock <= 0.5:
            raise ValueError("phase_lock must be in [0, 0.5]")

    @property
    def effective_warmup_s(self) -> float:
        """keepalived: warmup defaults to delay_loop."""
        return self.delay_loop_s if self.warmup_s is None else self.warmup_s


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckerUp:
    """The checker became (or, with ``initial``, was first confirmed) up."""

    at: float
    initial: bool
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckerDown:
    """The checker became (or, with ``initial``, was first found) down."""

    at: float
    initial: bool
    reason: str
    failures: int


@dataclass(frozen=True, slots=True, kw_only=True)
class WeightChanged:
    """The weight the checker asks for changed (``None``: the configured weight)."""

    at: float
    weight: int | None
    weight_delta: int | None


Event = CheckerUp | CheckerDown | WeightChanged


class Phase(enum.Enum):
    STARTING = "starting"  # no result yet
    UP = "up"
    FAILING = "failing"  # still up, counting failed probes and rounds
    DOWN = "down"
    RISING = "rising"  # still down, counting successes


_ALLOWED: dict[Phase, frozenset[Phase]] = {
    Phase.STARTING: frozenset({Phase.UP, Phase.DOWN, Phase.RISING}),
    Phase.UP: frozenset({Phase.UP, Phase.FAILING, Phase.DOWN}),
    Phase.FAILING: frozenset({Phase.UP, Phase.FAILING, Phase.DOWN}),
    Phase.DOWN: frozenset({Phase.DOWN, Phase.RISING, Phase.UP}),
    Phase.RISING: frozenset({Phase.RISING, Phase.DOWN, Phase.UP}),
}


class Hysteresis:
    """One checker. Drive it: ``next_due()`` -> ``begin(now)`` -> probe -> ``record(r, now)``."""

    def __init__(self, params: HysteresisParams, *, now: float, warmup_fraction: float) -> None:
        if not 0.0 <= warmup_fraction < 1.0:
            raise ValueError("warmup_fraction must be in [0, 1)")
        self.params = params
        self._phase = Phase.STARTING
        self._due = now + params.start_delay_s + params.effective_warmup_s * warmup_fraction
        self._anchor = self._due  # this checker's slot: anchor + k * delay_loop
        self._in_flight = False
        self._retry_it = 0
        self._failed_rounds = 0
        self._failures = 0
        self._successes = 0
        self._weight: int | None = None
        self._weight_delta: int | None = None

    # -- queries -------------------------------------------------------------------------

    @property
    def phase(self) -> Phase:
        return self._phase

    @property
    def is_up(self) -> bool:
        """What the real server should believe now (alpha: down until proven)."""
        if self._phase is Phase.STARTING:
            return not self.params.alpha
        return self._phase in (Phase.UP, Phase.FAILING)

    @property
    def weight(self) -> int | None:
        return self._weight

    @property
    def weight_delta(self) -> int | None:
        return self._weight_delta

    @property
    def in_flight(self) -> bool:
        return self._in_flight

    def next_due(self) -> float:
        """Absolute time of the next probe; ``inf`` while one is in flight."""
        return float("inf") if self._in_flight else self._due

    # -- inputs --------------------------------------------------------------------------

    def begin(self, now: float) -> None:
        """A probe starts now; normally at ``next_due()``, earlier for an operator's "check now".

        Starting while one is in flight is a driver bug.
        """
        del now  # kept in the signature so drivers read alike and a future trace can use it
        if self._in_flight:
            raise RuntimeError("a probe is already in flight")
        self._in_flight = True

    def expedite(self, now: float) -> bool:
        """Make the next probe due ``now`` (a watched file changed, an operator asked).

        False when a probe is in flight: its result is already on the way.
        """
        if self._in_flight:
            return False
        self._due = min(self._due, now)
        return True

    def void(self, now: float, retry_in_s: float) -> None:
        """Drop the probe in flight unjudged (its driver ran too late to time it fairly);
        nothing changes, the next probe is due ``retry_in_s`` from ``now``."""
        if not self._in_flight:
            raise RuntimeError("void() without begin()")
        self._in_flight = False
        self._due = now + retry_in_s

    def record(self, result: ProbeResult, now: float) -> list[Event]:
        """Feed the result of the probe in flight; returns what changed, in order."""
        if not self._in_flight:
            raise RuntimeError("record() without begin()")
        self._in_flight = False
        events: list[Event] = []
        if result.ok:
            self._weigh(result, now, events)
            delay = self._on_success(result, now, events)
        else:
            delay = self._on_failure(result, now, events)
        self._due = self._locked(now + delay) if delay == self.params.delay_loop_s else now + delay
        return events

    def _locked(self, due: float) -> float:
        """Pull ``due`` toward the nearest slot of this checker, by at most phase_lock."""
        period = self.params.delay_loop_s
        offset = (self._anchor - due) % period  # in [0, period): how far the next slot is
        if offset > period / 2:
            offset -= period  # the previous slot is nearer
        limit = self.params.phase_lock * period
        return due + max(-limit, min(limit, offset))

    # -- transitions ---------------------------------------------------------------------

    def _go(self, phase: Phase) -> None:
        if phase not in _ALLOWED[self._phase]:
            raise RuntimeError(f"impossible transition {self._phase.value} -> {phase.value}")
        self._phase = phase

    def _on_success(self, result: ProbeResult, now: float, events: list[Event]) -> float:
        p = self.params
        first = self._phase is Phase.STARTING
        self._failures = self._retry_it = self._failed_rounds = 0
        if self.is_up:
            self._go(Phase.UP)
            if first:
                events.append(CheckerUp(at=now, initial=True, reason=result.reason))
            return p.delay_loop_s
        self._successes += 1
        if self._successes >= p.rise:
            self._successes = 0
            self._go(Phase.UP)
            events.append(CheckerUp(at=now, initial=first, reason=result.reason))
        else:
            self._go(Phase.RISING)
        return p.delay_loop_s

    def _on_failure(self, result: ProbeResult, now: float, events: list[Event]) -> float:
        p = self.params
        self._successes = 0
        self._failures += 1
        if self._phase is Phase.STARTING:
            self._go_down(result, now, events, initial=True)
            return p.delay_loop_s
        if not self.is_up:
            self._go(Phase.DOWN)
            return p.delay_loop_s
        self._retry_it += 1
        if self._retry_it <= p.retry:
            self._go(Phase.FAILING)
            return p.delay_before_retry_s
        self._retry_it = 0
        self._failed_rounds += 1
        if self._failed_rounds >= p.fall:
            self._go_down(result, now, events, initial=False)
        else:
            self._go(Phase.FAILING)
        return p.delay_loop_s

    def _go_down(
        self, result: ProbeResult, now: float, events: list[Event], *, initial: bool
    ) -> None:
        self._go(Phase.DOWN)
        self._retry_it = self._failed_rounds = 0
        events.append(
            CheckerDown(at=now, initial=initial, reason=result.reason, failures=self._failures)
        )
        if self._weight is not None or self._weight_delta is not None:
            self._weight = self._weight_delta = None
            events.append(WeightChanged(at=now, weight=None, weight_delta=None))

    def _weigh(self, result: ProbeResult, now: float, events: list[Event]) -> None:
        if (result.weight, result.weight_delta) == (self._weight, self._weight_delta):
            return
        self._weight, self._weight_delta = result.weight, result.weight_delta
        events.append(WeightChanged(at=now, weight=self._weight, weight_delta=self._weight_delta))


CHECKER_DEFAULTS: dict[str, tuple[int, float | None]] = {
    "HTTP_GET": (1, 3.0),
    "SSL_GET": (1, 3.0),
    "TCP_CHECK": (1, 1.0),
    "SMTP_CHECK": (1, 1.0),
    "DNS_CHECK": (3, None),
    "MISC_CHECK": (0, 1.0),
    "UDP_CHECK": (1, 1.0),
    "PING_CHECK": (1, 1.0),
    "FILE_CHECK": (0, 1.0),
}
"""keepalived's per-type defaults: (retry, delay_before_retry_s; None = delay_loop)."""


def checker_params(
    kind: str,
    *,
    delay_loop_s: float,
    retry: int | None = None,
    delay_before_retry_s: float | None = None,
    warmup_s: float | None = None,
    alpha: bool = False,
    rise: int = 1,
    fall: int = 1,
) -> HysteresisParams:
    """Params for a checker of ``kind``, keepalived's defaults filling what config left unset.

    ``check.from_config`` resolves inheritance (checker <- real_server <- virtual_server)
    and passes ``None`` for what no level set. FILE_CHECK has no retry and no alpha
    (keepalived knows the file's state at once).
    """
    default_retry, default_dbr = CHECKER_DEFAULTS[kind]
    if kind == "FILE_CHECK":
        retry, alpha = 0, False
    return HysteresisParams(
        delay_loop_s=delay_loop_s,
        retry=default_retry if retry is None else retry,
        delay_before_retry_s=(
            delay_before_retry_s
            if delay_before_retry_s is not None
            else (delay_loop_s if default_dbr is None else default_dbr)
        ),
        warmup_s=warmup_s,
        alpha=alpha,
        rise=rise,
        fall=fall,
    )
