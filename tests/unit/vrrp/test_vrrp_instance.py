"""One instance alone: exact actions, timers and keepalived's log texts for each rule."""

from collections.abc import Sequence
from ipaddress import IPv4Address

import pytest
from vrrp_harness import params

from pykeepalived.vrrp.events import (
    AddVips,
    AdvertReceived,
    Log,
    MasterRxLowerPriority,
    PriorityChanged,
    RemoveVips,
    SendAdvert,
    SendGratuitous,
    StateChanged,
)
from pykeepalived.vrrp.group import SyncGroup
from pykeepalived.vrrp.instance import Instance
from pykeepalived.vrrp.states import TRANSITIONS, InvalidTransitionError, State, check_transition
from pykeepalived.vrrp.timing import master_down_us, skew_time_us
from pykeepalived.vrrp.tracking import Verdict

T0 = 1000.0
OURS = "10.0.0.5"


def adv(priority: int, src: str = "10.0.0.9", version: int = 2, cs: int = 100) -> AdvertReceived:
    return AdvertReceived(
        source=IPv4Address(src), vrid=51, version=version, priority=priority, advert_int_cs=cs
    )


def backup(**kw: object) -> Instance:
    inst = Instance(params(ip=OURS, **kw))
    inst.start(T0)
    assert state(inst) is State.BACKUP
    return inst


def master(**kw: object) -> Instance:
    inst = backup(**kw)
    timer = inst.get_timer()
    assert timer is not None
    inst.handle_timer(timer)
    assert state(inst) is State.MASTER
    return inst


def state(inst: Instance) -> State:
    """Read the state through a call, so a type checker does not keep an old narrowing."""
    return inst.state


def kinds(actions: Sequence[object]) -> list[type]:
    return [type(a) for a in actions]


# -- timing -----------------------------------------------------------------------------------


def test_skew_and_master_down_like_keepalived() -> None:
    assert skew_time_us(2, 100, 1_000_000) == 609_375  # (256 - 100) / 256 s
    assert skew_time_us(2, 100, 5_000_000) == 609_375  # v2: independent of the interval
    assert skew_time_us(3, 100, 1_000_000) == 609_375
    assert skew_time_us(3, 100, 50_000) == 30_468  # v3: scales with the master's interval
    assert master_down_us(2, 100, 1_000_000) == 3_609_375
    assert master_down_us(3, 254, 50_000, down_timer_adverts=1) == 50_000 + 390


# -- the table --------------------------------------------------------------------------------


def test_the_transition_table_refuses_what_cannot_happen() -> None:
    assert (State.BACKUP, State.MASTER) in TRANSITIONS
    for old, new in [
        (State.STOP, State.MASTER),
        (State.MASTER, State.INIT),
        (State.BACKUP, State.INIT),
        (State.BACKUP, State.BACKUP),
    ]:
        with pytest.raises(InvalidTransitionError, match="impossible transition"):
            check_transition("VI_1", old, new)


def test_start_twice_is_a_local_bug() -> None:
    inst = backup()
    with pytest.raises(RuntimeError):
        inst.start(T0)


def test_an_advert_for_another_vrid_is_a_local_bug() -> None:
    inst = backup()
    with pytest.raises(ValueError, match="VRID 52"):
        inst.handle_advert(
            AdvertReceived(
                source=IPv4Address("1.2.3.4"), vrid=52, version=2, priority=1, advert_int_cs=100
            ),
            T0,
        )


# -- params -----------------------------------------------------------------------------------


def test_params_follow_keepalived_adjustments() -> None:
    assert params(priority=255).initial_state is State.MASTER
    assert params(priority=100).initial_state is State.BACKUP
    assert params(state=State.MASTER, nopreempt=True).preempt is True
    assert params(priority=255, nopreempt=True).preempt is True
    assert params(state=State.MASTER, preempt_delay_s=3.0).preempt_delay_us == 0
    assert params(nopreempt=True, preempt_delay_s=3.0).preempt_delay_us == 0
    assert params(preempt_delay_s=2.5).preempt_delay_us == 2_500_000


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"advert_int_s": 1.5}, "v2 advert_int"),
        ({"advert_int_s": 0.005, "version": 3}, "whole centiseconds"),
        ({"advert_int_s": 41.0, "version": 3}, "v3 advert_int"),
        ({"priority": 0}, "priority"),
        ({"virtual_router_id": 256}, "virtual_router_id"),
        ({"state": State.FAULT}, "state"),
    ],
)
def test_params_refuse_what_keepalived_refuses(kw: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        params(**kw)


# -- becoming and being master ----------------------------------------------------------------


def test_becoming_master_sends_advert_first_then_vips_then_garp() -> None:
    inst = backup()
    timer = inst.get_timer()
    assert timer is not None
    assert timer == pytest.approx(T0 + 3 + 156 / 256)
    actions = inst.handle_timer(timer)
    assert kinds(actions) == [Log, SendAdvert, StateChanged, AddVips, SendGratuitous]
    assert actions[1] == SendAdvert(priority=100)
    assert actions[4] == SendGratuitous(repeat=5)
    assert inst.get_timer() == pytest.approx(timer + 1)


def test_second_garp_round_after_garp_master_delay_and_refresh() -> None:
    inst = master(garp_master_delay_s=5.0, garp_master_refresh_s=2.0)
    start = inst.get_timer()
    assert start is not None
    seen: list[tuple[float, object]] = []
    now = start - 1
    while now < start + 6:
        timer = inst.get_timer()
        assert timer is not None
        now = timer
        seen += [(now - start, a) for a in inst.handle_timer(now) if isinstance(a, SendGratuitous)]
    assert [round(t, 3) for t, _ in seen] == [1.0, 3.0, 4.0, 5.0]
    assert seen[2][1] == SendGratuitous(repeat=5)  # the delayed second round
    assert seen[0][1] == SendGratuitous(repeat=1)  # refresh


def test_master_answers_a_priority_0_advert_and_stays_master() -> None:
    inst = master()
    actions = inst.handle_advert(adv(0), T0 + 5)
    assert actions[0] == SendAdvert(priority=100)
    assert actions[1] == Log(message="(VI_1) Master received priority 0 message", detail=True)
    assert state(inst) is State.MASTER
    assert inst.get_timer() == pytest.approx(T0 + 6)


def test_lower_priority_garp_repeat_defaults_to_the_master_garp_repeat() -> None:
    actions = master().handle_advert(adv(50), T0 + 5)
    assert SendGratuitous(repeat=5) in actions  # keepalived 2.2.7 default, outside strict mode


def test_master_lower_priority_forces_new_election() -> None:
    inst = master(garp_lower_prio_repeat=2)
    actions = inst.handle_advert(adv(50), T0 + 5)
    assert actions == [
        Log(
            message="(VI_1) Received advert from 10.0.0.9 with lower priority 50, ours 100,"
            " forcing new election"
        ),
        SendAdvert(priority=100),
        SendGratuitous(repeat=2),
        MasterRxLowerPriority(source=IPv4Address("10.0.0.9")),
    ]


def test_master_lower_prio_no_advert_stays_quiet() -> None:
    inst = master(lower_prio_no_advert=True, garp_lower_prio_repeat=0)
    actions = inst.handle_advert(adv(50), T0 + 5)
    assert kinds(actions) == [Log, MasterRxLowerPriority]
    assert isinstance(actions[0], Log)
    assert actions[0].message.endswith("with lower priority 50, ours 100")


def test_master_higher_priority_yields_and_learns_v3_interval() -> None:
    inst = master(version=3, advert_int_s=1.0)
    actions = inst.handle_advert(adv(200, version=3, cs=20), T0 + 5)
    assert kinds(actions) == [Log, Log, StateChanged, RemoveVips]
    assert actions[0] == Log(
        message="(VI_1) Master received advert from 10.0.0.9 with higher priority 200, ours 100"
    )
    assert inst.master_adver_int_us == 200_000
    assert inst.get_timer() == pytest.approx(T0 + 5 + 0.6 + (156 * 20 * 625 // 16) / 1e6)


def test_higher_prio_send_advert_sends_one_before_yielding() -> None:
    inst = master(higher_prio_send_advert=True)
    actions = inst.handle_advert(adv(200), T0 + 5)
    assert actions[0] == SendAdvert(priority=100)
    assert state(inst) is State.BACKUP


def test_our_own_address_at_equal_priority_is_only_a_warning() -> None:
    inst = master()
    actions = inst.handle_advert(adv(100, src=OURS), T0 + 5)
    assert actions == [
        Log(
            message="(VI_1) WARNING - equal priority advert received from remote host"
            " with our IP address."
        )
    ]
    assert state(inst) is State.MASTER


def test_second_address_owner_demotes_us_for_good() -> None:
    inst = Instance(params(ip=OURS, priority=255))
    inst.start(T0)
    actions = inst.handle_advert(adv(255, src="10.0.0.9"), T0 + 1)
    assert not any(isinstance(a, PriorityChanged) for a in actions)  # silent, as keepalived
    assert inst.effective_priority == 254
    assert state(inst) is State.BACKUP
    inst.set_priority(255, T0 + 2)
    assert inst.effective_priority == 254


# -- backup ----------------------------------------------------------------------------------


def test_backup_priority_0_arms_skew_time() -> None:
    inst = backup()
    inst.handle_advert(adv(0), T0 + 1)
    assert inst.get_timer() == pytest.approx(T0 + 1 + 156 / 256)


def test_backup_wrong_version_and_zero_interval_are_ignored() -> None:
    inst = backup(version=3, advert_int_s=1.0)
    timer = inst.get_timer()
    wrong = inst.handle_advert(adv(200, version=2), T0 + 1)
    assert wrong == [Log(message="(VI_1) wrong version. Received 2 and expect 3")]
    zero = inst.handle_advert(adv(200, version=3, cs=0), T0 + 1)
    assert zero == [Log(message="(VI_1) advertisement interval 0 received - ignoring")]
    assert inst.get_timer() == timer


def test_priority_change_in_backup_moves_the_deadline_by_the_skew_change() -> None:
    inst = backup()
    before = inst.get_timer()
    assert before is not None
    actions = inst.set_priority(200, T0 + 1)
    assert actions == [
        PriorityChanged(
            old=100, new=200, message="(VI_1) Changing effective priority from 100 to 200"
        )
    ]
    assert inst.get_timer() == pytest.approx(before - 100 / 256)


# -- fault, stop --------------------------------------------------------------------------------


def test_master_to_fault_sends_priority_0_and_drops_vips() -> None:
    inst = master()
    actions = inst.hold_fault("tracking", "interface eth0 down", T0 + 5)
    # twice, as keepalived 2.2.7 does (a peer logs "Backup received priority 0" twice)
    assert kinds(actions) == [StateChanged, SendAdvert, SendAdvert, Log, RemoveVips]
    assert actions[1] == actions[2] == SendAdvert(priority=0)
    assert actions[3] == Log(message="(VI_1) sent 0 priority", detail=True)
    assert inst.get_timer() is None
    assert inst.handle_advert(adv(200), T0 + 6) == []  # ignored in FAULT


def test_fault_before_start_starts_in_fault() -> None:
    inst = Instance(params(ip=OURS))
    inst.hold_fault("tracking", "script chk has no result yet", T0)
    actions = inst.start(T0)
    assert actions[0] == StateChanged(
        old=State.INIT,
        new=State.FAULT,
        reason="script chk has no result yet",
        message="(VI_1) entering FAULT state",
    )


def test_faults_from_several_holders_all_must_clear() -> None:
    inst = backup()
    inst.hold_fault("tracking", "x", T0)
    inst.hold_fault("other", "y", T0)
    assert inst.release_fault("tracking", T0 + 1) == []
    assert state(inst) is State.FAULT
    assert kinds(inst.release_fault("other", T0 + 1)) == [StateChanged]
    assert state(inst) is State.BACKUP
    assert inst.get_timer() == pytest.approx(T0 + 1 + 3 + 156 / 256)


def test_address_owner_leaving_a_fault_comes_back_as_backup_like_keepalived() -> None:
    """keepalived 2.2.7 in netns: owner, track file FAULT then OK -> BACKUP, MASTER 3.004 s on."""
    inst = Instance(params(ip=OURS, priority=255))
    inst.start(T0)
    inst.hold_fault("tracking", "tracked file tf has status -254", T0 + 1)
    actions = inst.release_fault("tracking", T0 + 2)
    assert kinds(actions) == [StateChanged]
    assert state(inst) is State.BACKUP
    assert inst.get_timer() == pytest.approx(T0 + 2 + 3 + 1 / 256)


def test_address_owner_whose_first_script_result_is_ok_goes_master_at_once() -> None:
    inst = Instance(params(ip=OURS, priority=255))
    inst.hold_fault("tracking", "script chk has no result yet", T0, pending=True)
    inst.start(T0)
    assert state(inst) is State.FAULT
    assert inst.only_pending
    actions = inst.release_fault("tracking", T0 + 1)
    assert state(inst) is State.MASTER
    assert SendAdvert(priority=255) in actions


def test_a_first_script_result_that_fails_turns_pending_into_a_real_fault() -> None:
    inst = Instance(params(ip=OURS, priority=255))
    inst.hold_fault("tracking", "script chk has no result yet", T0, pending=True)
    inst.start(T0)
    inst.hold_fault("tracking", "script chk down", T0 + 1)
    assert not inst.only_pending
    inst.release_fault("tracking", T0 + 2)
    assert state(inst) is State.BACKUP  # it gave up wanting MASTER, as keepalived does


def test_shutdown_of_a_master_sends_priority_0_then_stops_for_good() -> None:
    inst = master()
    actions = inst.shutdown(T0 + 5)
    assert kinds(actions) == [SendAdvert, Log, RemoveVips, StateChanged]
    assert actions[0] == SendAdvert(priority=0)
    assert inst.get_timer() is None
    assert inst.shutdown(T0 + 6) == []
    assert inst.hold_fault("tracking", "x", T0 + 6) == []
    assert inst.force_master("x", T0 + 6) == []


# -- sync group details -------------------------------------------------------------------------


def test_group_member_with_state_master_waits_one_interval_only() -> None:
    vi1 = Instance(params(ip=OURS, state=State.MASTER))
    vi2 = Instance(params(name="VI_2", virtual_router_id=52, ip=OURS, state=State.MASTER))
    group = SyncGroup("G", [vi1, vi2])
    group.start(T0)
    assert vi1.get_timer() == pytest.approx(T0 + 1 + 1 / 256)
    group.handle_timer(T0 + 1 + 1 / 256)
    assert state(vi1) is state(vi2) is State.MASTER


def test_group_tracking_verdict_reaches_the_member() -> None:
    vi1 = Instance(params(ip=OURS))
    vi2 = Instance(params(name="VI_2", virtual_router_id=52, ip=OURS))
    group = SyncGroup("G", [vi1, vi2])
    group.start(T0)
    group.apply_verdict("VI_1", Verdict(priority=90), T0)
    assert vi1.effective_priority == 90
    out = group.apply_verdict("VI_2", Verdict(priority=100, faults=("script chk down",)), T0)
    assert state(vi1) is state(vi2) is State.FAULT
    assert vi2.faults["tracking"] == "script chk down"
    assert any(t.source == "G" for t in out)
    group.apply_verdict("VI_2", Verdict(priority=100), T0 + 1)
    assert state(vi1) is state(vi2) is State.BACKUP


def test_group_refuses_empty_or_duplicate_members() -> None:
    with pytest.raises(ValueError, match="no member"):
        SyncGroup("G", [])
    vi1 = Instance(params(ip=OURS))
    with pytest.raises(ValueError, match="twice"):
        SyncGroup("G", [vi1, vi1])


# -- reload and snapshots -----------------------------------------------------------------------


def test_a_reloaded_master_resumes_without_waiting_and_without_notify() -> None:
    inst = Instance(params(ip=OURS, priority=110))
    actions = inst.resume(State.MASTER, T0)
    assert kinds(actions) == [StateChanged, SendAdvert]
    changed = actions[0]
    assert isinstance(changed, StateChanged)
    assert changed.resumed
    assert changed.new is State.MASTER
    assert actions[1] == SendAdvert(priority=110)
    assert inst.get_timer() == pytest.approx(T0 + 1)


def test_a_reloaded_backup_resumes_with_a_fresh_master_down_timer() -> None:
    inst = Instance(params(ip=OURS))
    assert kinds(inst.resume(State.BACKUP, T0)) == [StateChanged]
    assert inst.get_timer() == pytest.approx(T0 + 3 + 156 / 256)


def test_a_reloaded_instance_with_a_fault_starts_in_fault() -> None:
    inst = Instance(params(ip=OURS))
    inst.hold_fault("tracking", "interface eth0 down", T0)
    inst.resume(State.MASTER, T0)
    assert state(inst) is State.FAULT


def test_snapshot_is_a_frozen_copy() -> None:
    inst = master()
    inst.handle_advert(adv(50), T0 + 5)
    snap = inst.snapshot()
    assert snap.state is State.MASTER
    assert snap.effective_priority == 100
    assert snap.master_ip == IPv4Address(OURS)
    assert snap.next_timer == pytest.approx(T0 + 6)
    inst.hold_fault("tracking", "x", T0 + 5.5)
    assert snap.state is State.MASTER
    assert inst.snapshot().faults == (("tracking", "x"),)


def test_group_of_address_owners_returns_from_fault_via_backup_together() -> None:
    vi1 = Instance(params(ip=OURS, priority=255))
    vi2 = Instance(params(name="VI_2", virtual_router_id=52, ip=OURS, priority=255))
    group = SyncGroup("G", [vi1, vi2])
    group.start(T0)
    assert state(vi1) is state(vi2) is State.MASTER
    group.hold_fault("VI_2", "tracking", "interface eth1 down", T0 + 1)
    assert state(vi1) is state(vi2) is State.FAULT
    assert not vi1.wants_master
    group.release_fault("VI_2", "tracking", T0 + 2)
    assert state(vi1) is state(vi2) is State.BACKUP
    up = T0 + 2 + 3 + 1 / 256
    assert group.get_timer() == pytest.approx(up)
    group.handle_timer(up)
    assert state(vi1) is state(vi2) is State.MASTER
    assert group.state is State.MASTER


def test_group_waiting_for_first_script_results_keeps_wanting_master() -> None:
    vi1 = Instance(params(ip=OURS, priority=255))
    vi2 = Instance(params(name="VI_2", virtual_router_id=52, ip=OURS, priority=255))
    group = SyncGroup("G", [vi1, vi2])
    group.hold_fault("VI_1", "tracking", "script chk has no result yet", T0, pending=True)
    group.start(T0)
    assert state(vi1) is state(vi2) is State.FAULT
    assert vi1.wants_master
    assert vi2.wants_master
    group.release_fault("VI_1", "tracking", T0 + 1)
    assert state(vi1) is state(vi2) is State.MASTER


def test_group_member_still_gated_keeps_wanting_master_through_a_group_backup() -> None:
    vi1 = Instance(params(ip=OURS))
    vi2 = Instance(params(name="VI_2", virtual_router_id=52, ip=OURS))
    group = SyncGroup("G", [vi1, vi2])
    group.start(T0)
    timer = vi1.get_timer()
    assert timer is not None
    # VI_2 hears a master, VI_1 does not: VI_1's timer fires but the group holds it back
    group.handle_advert(
        "VI_2",
        AdvertReceived(
            source=IPv4Address("10.0.0.9"), vrid=52, version=2, priority=200, advert_int_cs=100
        ),
        T0 + 3,
    )
    group.handle_timer(timer)
    assert state(vi1) is State.BACKUP
    assert vi1.wants_master
    assert not vi2.wants_master


def test_advert_interval_limits_follow_the_wire() -> None:
    adv(100, cs=255 * 100)  # v2 carries whole seconds up to 255
    with pytest.raises(ValueError, match="outside"):
        adv(100, version=3, cs=4096)  # v3 carries 12 bits of centiseconds
    inst = backup(advert_int_s=200.0)
    assert inst.handle_advert(adv(150, cs=200 * 100), T0 + 1) == []


# -- startup delay and lower-priority GARP rounds ----------------------------------------------


def test_vrrp_startup_delay_holds_every_takeover_until_it_has_run_out() -> None:
    owner = Instance(params(ip=OURS, priority=255, startup_delay_s=10.0))
    owner.start(T0)
    assert state(owner) is State.BACKUP
    assert owner.get_timer() == pytest.approx(T0 + 10 + 1e-6)
    plain = backup(startup_delay_s=10.0)
    assert plain.get_timer() == pytest.approx(T0 + 10 + 3 + 156 / 256)
    plain.handle_advert(adv(0), T0 + 2)  # priority 0 during the delay: skew after the delay
    assert plain.get_timer() == pytest.approx(T0 + 10 + 156 / 256)
    plain.handle_advert(adv(200), T0 + 11)  # after the delay: from now again
    assert plain.get_timer() == pytest.approx(T0 + 11 + 3 + 156 / 256)


def test_lower_priority_garp_gets_a_second_round_after_its_delay() -> None:
    inst = master(garp_lower_prio_repeat=3, garp_lower_prio_delay_s=2.0, garp_master_delay_s=0)
    assert inst.get_timer() is not None
    inst.handle_advert(adv(50), T0 + 10)
    fired: list[object] = []
    now = T0 + 10
    while now < T0 + 12.5:
        timer = inst.get_timer()
        assert timer is not None
        now = timer
        fired += [a for a in inst.handle_timer(now) if isinstance(a, SendGratuitous)]
    assert fired == [SendGratuitous(repeat=3)]


def test_a_v3_backup_becoming_master_goes_back_to_its_own_interval() -> None:
    inst = backup(version=3, advert_int_s=1.0)
    inst.handle_advert(adv(200, version=3, cs=5), T0 + 1)
    timer = inst.get_timer()
    assert timer is not None
    actions = inst.handle_timer(timer)
    assert (
        Log(
            message="(VI_1) changing advert interval from 50ms to locally configured 1000ms",
            detail=True,
        )
        in actions
    )
    assert inst.master_adver_int_us == 1_000_000


def test_a_member_dragged_into_fault_by_its_group_sends_priority_0_once() -> None:
    vi1 = Instance(params(ip=OURS, priority=255))
    vi2 = Instance(params(name="VI_2", virtual_router_id=52, ip=OURS, priority=255))
    group = SyncGroup("G", [vi1, vi2])
    group.start(T0)
    out = group.hold_fault("VI_1", "tracking", "interface eth0 down", T0 + 1)
    zeros = {
        name: sum(1 for t in out if t.source == name and t.action == SendAdvert(priority=0))
        for name in ("VI_1", "VI_2")
    }
    assert zeros == {"VI_1": 2, "VI_2": 1}  # keepalived: down_instance vs vrrp_sync_fault


def test_an_instance_removed_by_reload_leaves_like_a_stop_and_ends_deleted() -> None:
    inst = master()
    actions = inst.delete(T0 + 5)
    assert kinds(actions) == [SendAdvert, Log, RemoveVips, StateChanged]
    changed = actions[-1]
    assert isinstance(changed, StateChanged)
    assert changed.new is State.DELETED
    assert changed.message == ""  # keepalived logs nothing, it notifies
    assert inst.get_timer() is None
    assert inst.delete(T0 + 6) == []
    assert inst.shutdown(T0 + 6) == []
    assert inst.hold_fault("tracking", "x", T0 + 6) == []
    with pytest.raises(InvalidTransitionError):
        check_transition("VI_1", State.DELETED, State.BACKUP)
