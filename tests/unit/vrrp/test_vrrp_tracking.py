"""Tracking rules (keepalived 2.2.7) and their effect on a running pair of routers."""

from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st
from vrrp_harness import LANS, Lan, assert_never_two_masters_longer_than_an_interval, params

from pykeepalived.vrrp.instance import Instance
from pykeepalived.vrrp.states import State
from pykeepalived.vrrp.tracking import (
    Effect,
    InstanceTracking,
    Kind,
    ScriptResult,
    Track,
    Verdict,
    boolean_effect,
    file_effect,
    script_log,
    verdict,
)

A, B = "10.0.0.1", "10.0.0.2"


@pytest.fixture(autouse=True)
def _never_two_masters() -> Iterator[None]:
    """Every scenario here, whatever it asserts, keeps the timeline invariant."""
    LANS.clear()
    yield
    assert_never_two_masters_longer_than_an_interval()


def script(weight: int = 0, reverse: bool = False) -> Track:
    return Track(kind=Kind.SCRIPT, name="chk", weight=weight, reverse=reverse)


def tfile(weight: int = 1, reverse: bool = False) -> Track:
    return Track(kind=Kind.FILE, name="/run/prio", weight=weight, reverse=reverse)


# -- the rules, one by one -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("weight", "reverse", "up", "expected"),
    [
        (10, False, True, 10),  # positive weight added when OK
        (10, False, False, 0),
        (-10, False, True, 0),
        (-10, False, False, -10),  # negative weight added when failing
        (10, True, True, -10),  # reverse: decreased when up
        (10, True, False, 0),
        (-10, True, False, 10),  # reverse: increased when down
        (-10, True, True, 0),
    ],
)
def test_weighted_boolean_trackers(weight: int, reverse: bool, up: bool, expected: int) -> None:
    assert boolean_effect(script(weight, reverse), up) == Effect(delta=expected)


def test_weight_0_failure_is_a_fault_and_reverse_inverts_it() -> None:
    assert boolean_effect(script(), False).fault == "script chk down"
    assert boolean_effect(script(), True) == Effect()
    assert boolean_effect(script(reverse=True), True).fault == "script chk up"
    assert boolean_effect(script(reverse=True), False) == Effect()


def test_a_script_without_result_yet_holds_fault_only_when_unweighted() -> None:
    assert boolean_effect(script(), None) == Effect(pending="script chk has no result yet")
    assert boolean_effect(script(-20), None) == Effect()


def test_interface_down_is_fault_unless_weighted() -> None:
    eth = Track(kind=Kind.INTERFACE, name="eth0")
    assert boolean_effect(eth, False).fault == "interface eth0 down"
    weighted = Track(kind=Kind.INTERFACE, name="eth1", weight=-30)
    assert boolean_effect(weighted, False) == Effect(delta=-30)


@pytest.mark.parametrize(
    ("weight", "reverse", "value", "expected"),
    [
        (1, False, 20, Effect(delta=20)),
        (2, False, -10, Effect(delta=-20)),
        (3, False, 100, Effect(delta=253)),  # clamped to 253
        (1, False, -253, Effect(delta=-253)),
        (1, False, -254, Effect(fault="tracked file /run/prio has status -254")),
        (254, False, -1, Effect(fault="tracked file /run/prio has status -254")),
        (-1, False, 5, Effect(delta=-5)),
        (1, True, 5, Effect(delta=-5)),
        (0, False, 0, Effect()),
        (0, False, 7, Effect(fault="tracked file /run/prio has status -254")),
        (0, True, 0, Effect(fault="tracked file /run/prio has status -254")),
        (0, True, 3, Effect()),
    ],
)
def test_track_file_rules(weight: int, reverse: bool, value: int, expected: Effect) -> None:
    assert file_effect(tfile(weight, reverse), value) == expected


def test_priority_is_clamped_to_1_254() -> None:
    assert verdict(100, [Effect(delta=200)]).priority == 254
    assert verdict(100, [Effect(delta=-200)]).priority == 1
    assert verdict(100, [Effect(delta=-20), Effect(delta=5)]).priority == 85


def test_the_address_owner_keeps_255_but_still_faults() -> None:
    assert verdict(255, [Effect(delta=-50)]) == Verdict(priority=255)
    faulty = verdict(255, [Effect(fault="interface eth0 down")])
    assert faulty.faults == ("interface eth0 down",)
    assert faulty.priority == 255


def test_weights_out_of_range_are_refused() -> None:
    with pytest.raises(ValueError, match="out of range"):
        Track(kind=Kind.SCRIPT, name="x", weight=254)
    Track(kind=Kind.FILE, name="f", weight=1000)


# -- rise / fall ------------------------------------------------------------------------------


def test_script_first_result_decides_at_once() -> None:
    assert ScriptResult(rise=3, fall=3).record(True) is True
    assert ScriptResult(rise=3, fall=3).record(False) is False


def test_script_needs_fall_failures_then_rise_successes() -> None:
    s = ScriptResult(rise=2, fall=3)
    assert s.record(True) is True
    assert [s.record(False) for _ in range(3)] == [None, None, False]
    assert s.record(True) is None
    assert s.record(False) is None  # a failure restarts the rise count
    assert [s.record(True) for _ in range(2)] == [None, True]
    assert s.ok is True


def test_a_success_while_ok_restores_the_full_fall_budget() -> None:
    s = ScriptResult(rise=1, fall=3)
    s.record(True)
    s.record(False)
    s.record(False)
    s.record(True)
    assert [s.record(False) for _ in range(3)] == [None, None, False]


def test_init_fail_starts_failed_and_needs_rise_successes() -> None:
    s = ScriptResult(rise=2, fall=1, init_fail=True)
    assert s.ok is False
    assert [s.record(True), s.record(True)] == [None, True]


# -- on the wire ------------------------------------------------------------------------------


def pair() -> tuple[Lan, Instance, Instance]:
    a, b = Instance(params(ip=A, priority=100)), Instance(params(ip=B, priority=90))
    lan = Lan.of(a, b)
    lan.start()
    lan.run(10)
    assert lan.masters() == {A}
    return lan, a, b


def test_a_failing_weighted_script_hands_over_to_the_backup() -> None:
    lan, a, _ = pair()
    result = verdict(100, [boolean_effect(script(-20), False)])
    lan.track(A, result)
    assert a.effective_priority == 80
    assert "(VI_1) Changing effective priority from 100 to 80" in lan.logs(A)
    lan.run(10)
    assert lan.masters() == {B}
    assert lan.split_brain_s() <= 0.001 + 1e-9
    # recovery: 100 again, it preempts
    lan.track(A, verdict(100, []))
    lan.run(10)
    assert lan.masters() == {A}


def test_a_weight_0_failure_faults_the_master_and_the_backup_takes_over_in_skew_time() -> None:
    lan, a, _ = pair()
    failed = lan.now
    result = verdict(100, [boolean_effect(script(), False)])
    lan.track(A, result)
    assert a.state is State.FAULT
    lan.run(5)
    assert lan.masters() == {B}
    assert lan.became(B, State.MASTER) - failed == pytest.approx(0.001 + 166 / 256)
    assert "(VI_1) Entering FAULT STATE" in lan.logs(A)
    lan.track(A, verdict(100, []))
    assert lan.state(A) is State.BACKUP
    lan.run(10)
    assert lan.masters() == {A}


def test_link_down_on_the_backup_faults_it_and_adverts_are_ignored() -> None:
    lan, _, b = pair()
    down = verdict(90, [boolean_effect(Track(kind=Kind.INTERFACE, name="eth0"), False)])
    lan.track(B, down)
    assert b.state is State.FAULT
    assert b.get_timer() is None
    lan.run(10)
    assert b.state is State.FAULT
    assert b.faults == {"tracking": "interface eth0 down"}


def test_a_track_file_raises_the_backup_above_the_master() -> None:
    lan, _, b = pair()
    result = verdict(90, [file_effect(tfile(weight=2), 10)])
    lan.track(B, result)
    assert b.effective_priority == 110
    lan.run(10)
    assert lan.masters() == {B}


# -- per-instance aggregation -------------------------------------------------------------------


def test_instance_tracking_reports_only_changes() -> None:
    tracking = InstanceTracking(
        100,
        [
            script(weight=-20),
            Track(kind=Kind.INTERFACE, name="eth0"),
            tfile(weight=2),
            Track(kind=Kind.SCRIPT, name="gate"),
        ],
    )
    # a weight-0 script without result yet holds FAULT (keepalived's script init state)
    assert tracking.verdict() == Verdict(priority=100, pending=("script gate has no result yet",))
    assert tracking.observe(Kind.SCRIPT, "gate", True) == Verdict(priority=100)
    assert tracking.observe(Kind.SCRIPT, "chk", True) is None  # OK with a negative weight: 0
    assert tracking.observe(Kind.SCRIPT, "chk", False) == Verdict(priority=80)
    assert tracking.observe(Kind.FILE, "/run/prio", 5) == Verdict(priority=90)
    assert tracking.observe(Kind.INTERFACE, "eth0", False) == Verdict(
        priority=90, faults=("interface eth0 down",)
    )
    assert tracking.observe(Kind.INTERFACE, "eth9", False) is None  # not ours


def test_instance_tracking_refuses_a_tracker_twice() -> None:
    with pytest.raises(ValueError, match="twice"):
        InstanceTracking(100, [script(), script(weight=5)])


def test_script_log_lines_are_keepalived_s() -> None:
    assert script_log("chk", True) == "VRRP_Script(chk) succeeded"
    assert script_log("chk", False, status=1) == "VRRP_Script(chk) failed (exited with status 1)"
    assert script_log("chk", False, signal=9) == "VRRP_Script(chk) failed (due to signal 9)"
    assert script_log("chk", False) == "VRRP_Script(chk) timed_out"


# -- properties ---------------------------------------------------------------------------------


@given(
    base=st.integers(1, 255),
    deltas=st.lists(st.integers(-300, 300), max_size=6),
    faults=st.lists(st.text(min_size=1, max_size=5), max_size=2),
)
def test_verdict_priority_is_always_in_range(
    base: int, deltas: list[int], faults: list[str]
) -> None:
    effects = [Effect(delta=d) for d in deltas] + [Effect(fault=f) for f in faults]
    result = verdict(base, effects)
    if base == 255:
        assert result.priority == 255
    else:
        assert 1 <= result.priority <= 254
    assert result.faults == tuple(faults)


@given(
    rise=st.integers(1, 5),
    fall=st.integers(1, 5),
    init_fail=st.booleans(),
    history=st.lists(st.booleans(), max_size=30),
)
def test_script_result_rise_and_fall_from_any_history(
    rise: int, fall: int, init_fail: bool, history: list[bool]
) -> None:
    s = ScriptResult(rise=rise, fall=fall, init_fail=init_fail)
    for outcome in history:
        s.record(outcome)
    for _ in range(fall):
        s.record(False)
    assert s.ok is False
    for _ in range(rise):
        s.record(True)
    assert s.ok is True
    changes = [s.record(False) for _ in range(fall)]
    assert changes == [None] * (fall - 1) + [False]
