"""The one hysteresis: table-driven traces under a fake clock (probes take no time)."""

import heapq
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pykeepalived.check.aggregate import HealthBook, RealServerHealth, ServerChanged
from pykeepalived.check.hysteresis import (
    CheckerDown,
    CheckerUp,
    Event,
    Hysteresis,
    HysteresisParams,
    Phase,
    WeightChanged,
    checker_params,
)
from pykeepalived.check.result import ProbeResult
from pykeepalived.clock import FakeClock


def _result(token: str) -> ProbeResult:
    """``+`` success, ``-`` failure, ``+w7`` success asking for weight 7, ``+d-3`` delta -3."""
    if token == "-":
        return ProbeResult(ok=False, reason="refused")
    if token.startswith("+w"):
        return ProbeResult(ok=True, weight=int(token[2:]))
    if token.startswith("+d"):
        return ProbeResult(ok=True, weight_delta=int(token[2:]))
    assert token == "+"
    return ProbeResult(ok=True)


def _show(event: Event) -> str:
    if isinstance(event, CheckerUp):
        return "UP*" if event.initial else "UP"
    if isinstance(event, CheckerDown):
        return "DOWN*" if event.initial else "DOWN"
    return f"W({event.weight},{event.weight_delta})"


def trace(params: HysteresisParams, script: str) -> list[str]:
    """Run the script at the times the hysteresis asks for; one line per probe."""
    clock = FakeClock(start=0.0)
    h = Hysteresis(params, now=clock.now(), warmup_fraction=0.0)
    lines = []
    for token in script.split():
        clock.advance(h.next_due() - clock.now())
        h.begin(clock.now())
        events = h.record(_result(token), clock.now())
        shown = " ".join(_show(e) for e in events)
        lines.append(f"{clock.now():g} {token} {shown}".rstrip())
    return lines


P = HysteresisParams(
    delay_loop_s=10, delay_before_retry_s=2, retry=1, start_delay_s=0, phase_lock=0
)

CASES = [
    pytest.param(P, "+ - - +", ["0 + UP*", "10 -", "12 - DOWN", "22 + UP"], id="retry1"),
    pytest.param(
        HysteresisParams(delay_loop_s=10, retry=0, start_delay_s=0, phase_lock=0),
        "+ - - +",
        ["0 + UP*", "10 - DOWN", "20 -", "30 + UP"],
        id="retry0",
    ),
    pytest.param(
        HysteresisParams(
            delay_loop_s=10, delay_before_retry_s=2, retry=2, start_delay_s=0, phase_lock=0
        ),
        "+ - + - - -",
        ["0 + UP*", "10 -", "12 +", "22 -", "24 -", "26 - DOWN"],
        id="retry2-success-resets",
    ),
    pytest.param(P, "- - +", ["0 - DOWN*", "10 -", "20 + UP"], id="first-failure-decisive"),
    pytest.param(
        HysteresisParams(delay_loop_s=10, retry=3, alpha=True, start_delay_s=0, phase_lock=0),
        "+ -",
        ["0 + UP*", "10 -"],
        id="alpha-first-success",
    ),
    pytest.param(
        HysteresisParams(delay_loop_s=10, retry=3, alpha=True, start_delay_s=0, phase_lock=0),
        "- +",
        ["0 - DOWN*", "10 + UP"],
        id="alpha-first-failure",
    ),
    pytest.param(
        HysteresisParams(delay_loop_s=10, retry=0, rise=3, start_delay_s=0, phase_lock=0),
        "- + + - + + + -",
        ["0 - DOWN*", "10 +", "20 +", "30 -", "40 +", "50 +", "60 + UP", "70 - DOWN"],
        id="rise3",
    ),
    pytest.param(
        HysteresisParams(delay_loop_s=10, rise=2, alpha=True, start_delay_s=0, phase_lock=0),
        "+ +",
        ["0 +", "10 + UP"],
        id="alpha-rise2",
    ),
    pytest.param(
        HysteresisParams(
            delay_loop_s=10, delay_before_retry_s=2, retry=1, fall=2, start_delay_s=0, phase_lock=0
        ),
        "+ - - - -",
        ["0 + UP*", "10 -", "12 -", "22 -", "24 - DOWN"],
        id="fall2-retry1",
    ),
    pytest.param(
        HysteresisParams(
            delay_loop_s=10, delay_before_retry_s=2, retry=1, fall=2, start_delay_s=0, phase_lock=0
        ),
        "+ - - + - - - -",
        ["0 + UP*", "10 -", "12 -", "22 +", "32 -", "34 -", "44 -", "46 - DOWN"],
        id="fall2-success-resets-rounds",
    ),
    pytest.param(
        HysteresisParams(delay_loop_s=10, retry=0, start_delay_s=0, phase_lock=0),
        "+w5 +w5 +w7 +d-2 - +",
        [
            "0 +w5 W(5,None) UP*",
            "10 +w5",
            "20 +w7 W(7,None)",
            "30 +d-2 W(None,-2)",
            "40 - DOWN W(None,None)",
            "50 + UP",
        ],
        id="dynamic-weight",
    ),
]


@pytest.mark.parametrize(("params", "script", "expected"), CASES)
def test_trace(params: HysteresisParams, script: str, expected: list[str]) -> None:
    assert trace(params, script) == expected


def test_warmup_and_start_delay() -> None:
    params = HysteresisParams(delay_loop_s=10, warmup_s=4, start_delay_s=1)
    assert Hysteresis(params, now=100, warmup_fraction=0.5).next_due() == 103
    default = HysteresisParams(delay_loop_s=10)  # warmup defaults to delay_loop, 1 s bootstrap
    assert Hysteresis(default, now=100, warmup_fraction=0.25).next_due() == 103.5
    no_warmup = HysteresisParams(delay_loop_s=10, warmup_s=0, start_delay_s=0, phase_lock=0)
    assert Hysteresis(no_warmup, now=100, warmup_fraction=0.9).next_due() == 100


def test_next_due_counts_from_completion() -> None:
    h = Hysteresis(P, now=0, warmup_fraction=0)
    h.begin(0)
    assert h.next_due() == float("inf")
    h.record(ProbeResult(ok=True), 3.5)  # the probe took 3.5 s
    assert h.next_due() == 13.5


def test_phase_lock_makes_the_period_exact_and_heals_a_stall() -> None:
    params = HysteresisParams(delay_loop_s=10, warmup_s=10, start_delay_s=0)
    h = Hysteresis(params, now=0, warmup_fraction=0.3)  # slot: 3 + 10k
    assert h.next_due() == 3
    h.begin(3)
    h.record(ProbeResult(ok=True), 3.2)  # a 0.2 s probe: the next still starts on the slot
    assert h.next_due() == pytest.approx(13)
    h.begin(17)  # the loop stalled 4 s
    h.record(ProbeResult(ok=True), 17)
    dues = []
    for _ in range(10):
        now = h.next_due()
        h.begin(now)
        h.record(ProbeResult(ok=True), now)
        dues.append(round(h.next_due() - now, 6))
    assert all(9.5 <= gap <= 10 for gap in dues)  # never more than 5 % early
    assert h.next_due() % 10 == pytest.approx(3)  # back on its slot


def _simulate_stall(phase_lock: float, n: int = 1000) -> int:
    """n checkers at delay_loop 1 s, 10 ms probes, the loop frozen from 5.0 s to 5.5 s.

    Returns the most probes started in one 10 ms bucket during the 30th second (even: 10).
    """
    params = HysteresisParams(delay_loop_s=1, start_delay_s=0, phase_lock=phase_lock)
    golden = 0.6180339887498949
    checkers = [Hysteresis(params, now=0, warmup_fraction=(i * golden) % 1) for i in range(n)]
    heap = [(h.next_due(), i) for i, h in enumerate(checkers)]
    heapq.heapify(heap)
    buckets: Counter[int] = Counter()
    while heap[0][0] < 30:
        due, i = heapq.heappop(heap)
        start = 5.5 if 5.0 <= due < 5.5 else due
        checkers[i].begin(start)
        checkers[i].record(ProbeResult(ok=True), start + 0.01)
        heapq.heappush(heap, (checkers[i].next_due(), i))
        if start >= 29:
            buckets[int(start * 100)] += 1
    return max(buckets.values())


def test_phase_lock_re_spreads_a_burst() -> None:
    """Without it, the 500 probes a stall bunched up stay bunched for ever (keepalived)."""
    assert _simulate_stall(phase_lock=0) >= 400
    assert _simulate_stall(phase_lock=0.05) <= 30


def test_initial_states() -> None:
    assert Hysteresis(P, now=0, warmup_fraction=0).is_up
    alpha = HysteresisParams(alpha=True)
    h = Hysteresis(alpha, now=0, warmup_fraction=0)
    assert not h.is_up
    assert h.phase is Phase.STARTING


def test_driver_bugs_raise() -> None:
    h = Hysteresis(P, now=0, warmup_fraction=0)
    with pytest.raises(RuntimeError, match="without begin"):
        h.record(ProbeResult(ok=True), 0)
    h.begin(0)
    with pytest.raises(RuntimeError, match="in flight"):
        h.begin(0)
    with pytest.raises(ValueError, match="warmup_fraction"):
        Hysteresis(P, now=0, warmup_fraction=1.0)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"delay_loop_s": 0},
        {"retry": -1},
        {"rise": 0},
        {"fall": 0},
        {"warmup_s": -1},
        {"delay_before_retry_s": -1},
    ],
)
def test_params_validated(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must be"):
        HysteresisParams(**kwargs)  # type: ignore[arg-type]


@given(
    outcomes=st.lists(st.booleans(), min_size=1, max_size=60),
    retry=st.integers(0, 3),
    rise=st.integers(1, 3),
    fall=st.integers(1, 3),
    alpha=st.booleans(),
)
def test_properties(outcomes: list[bool], retry: int, rise: int, fall: int, alpha: bool) -> None:
    """Up/down events alternate, match is_up, and need the promised run lengths."""
    params = HysteresisParams(
        delay_loop_s=5,
        delay_before_retry_s=1,
        retry=retry,
        rise=rise,
        fall=fall,
        alpha=alpha,
        start_delay_s=0,
    )
    h = Hysteresis(params, now=0, warmup_fraction=0)
    now, run_ok, run_fail = 0.0, 0, 0
    last_up: bool | None = None
    for i, ok in enumerate(outcomes):
        now = h.next_due()
        h.begin(now)
        events = h.record(ProbeResult(ok=ok), now)
        run_ok, run_fail = (run_ok + 1, 0) if ok else (0, run_fail + 1)
        for e in events:
            if isinstance(e, CheckerUp):
                assert last_up is not True
                assert e.initial or run_ok >= rise
                last_up = True
            elif isinstance(e, CheckerDown):
                assert last_up is not False or e.initial
                assert i == 0 or run_fail >= fall * (retry + 1)
                last_up = False
        if last_up is not None:
            assert h.is_up == last_up


def test_aggregate_all_checkers_up() -> None:
    rs = RealServerHealth(10, {"http": True, "misc": True})
    assert rs.alive
    assert rs.weight == 10
    changed = rs.apply("http", [CheckerDown(at=1, initial=False, reason="x", failures=2)])
    assert changed is not None
    assert not changed.alive
    assert rs.down_checkers == ["http"]
    assert rs.apply("misc", [WeightChanged(at=2, weight=20, weight_delta=None)]) is not None
    changed = rs.apply("http", [CheckerUp(at=3, initial=False, reason="")])
    assert changed is not None
    assert (changed.alive, changed.weight) == (True, 20)
    assert rs.apply("http", [CheckerUp(at=4, initial=False, reason="")]) is None


def test_aggregate_weights_and_edges() -> None:
    assert RealServerHealth(3, {}).alive  # no checker: always alive
    rs = RealServerHealth(10, {"f": True, "m": False})
    assert not rs.alive
    rs.apply("f", [WeightChanged(at=0, weight=None, weight_delta=-4)])
    rs.apply("m", [WeightChanged(at=0, weight=2, weight_delta=None)])
    assert rs.weight == 0  # 10 - 4 + (2 - 10) clamps at 0
    with pytest.raises(KeyError):
        rs.apply("nope", [])


def test_checker_defaults_follow_keepalived() -> None:
    http = checker_params("HTTP_GET", delay_loop_s=6)
    assert (http.retry, http.delay_before_retry_s) == (1, 3.0)
    dns = checker_params("DNS_CHECK", delay_loop_s=6)
    assert (dns.retry, dns.delay_before_retry_s) == (3, 6)
    assert checker_params("MISC_CHECK", delay_loop_s=6).retry == 0
    tcp = checker_params("TCP_CHECK", delay_loop_s=6, retry=4, delay_before_retry_s=0.5)
    assert (tcp.retry, tcp.delay_before_retry_s) == (4, 0.5)
    f = checker_params("FILE_CHECK", delay_loop_s=6, retry=3, alpha=True)
    assert (f.retry, f.alpha) == (0, False)
    with pytest.raises(KeyError):
        checker_params("BFD_CHECK", delay_loop_s=6)


def test_expedite() -> None:
    h = Hysteresis(P, now=0, warmup_fraction=0)
    h.begin(0)
    assert not h.expedite(1)  # in flight: its result is on the way
    h.record(ProbeResult(ok=True), 1)
    assert h.next_due() == 11
    assert h.expedite(4)
    assert h.next_due() == 4
    assert h.expedite(6)
    assert h.next_due() == 4  # never later than it was


def test_health_book_routes_checker_events_to_servers() -> None:
    book = HealthBook()
    book.add_server("rs1", 5, {"rs1/http": True, "rs1/tcp": True})
    book.add_server("rs2", 7, {"rs2/tcp": False})
    down = CheckerDown(at=1, initial=False, reason="x", failures=1)
    assert book.apply("rs1/tcp", [down]) == ServerChanged(server="rs1", alive=False, weight=5)
    assert book.apply("rs1/http", [down]) is None  # already not alive
    up = CheckerUp(at=2, initial=True, reason="")
    assert book.apply("rs2/tcp", [up]) == ServerChanged(server="rs2", alive=True, weight=7)
    assert book.apply("gone", [up]) is None
    with pytest.raises(ValueError, match="already belong"):
        book.add_server("rs3", 1, {"rs2/tcp": True})
    book.remove_server("rs2")
    assert book.apply("rs2/tcp", [down]) is None
    assert not book.server("rs1").alive


def test_void_drops_the_probe_in_flight_unjudged() -> None:
    h = Hysteresis(P, now=0.0, warmup_fraction=0.0)
    h.begin(0.0)
    assert h.record(ProbeResult(ok=True), 0.0) == [
        CheckerUp(at=0.0, initial=True, reason=""),
    ]
    h.begin(10.0)
    h.void(12.5, 0.0)  # its driver ran too late to judge it: nothing changes
    assert (h.phase, h.is_up, h.in_flight, h.next_due()) == (Phase.UP, True, False, 12.5)
    h.begin(12.5)
    assert h.record(ProbeResult(ok=False, reason="refused"), 12.5) == []  # a retry, as before
    assert h.phase is Phase.FAILING
    with pytest.raises(RuntimeError, match="without begin"):
        h.void(13.0, 0.0)
