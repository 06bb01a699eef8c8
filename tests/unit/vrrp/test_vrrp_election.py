"""Behaviour of VRRP instances on a simulated LAN (two and three routers, fake clock)."""

from collections.abc import Iterator

import pytest
from vrrp_harness import LANS, Lan, assert_never_two_masters_longer_than_an_interval, params

from pykeepalived.vrrp.instance import Instance
from pykeepalived.vrrp.states import State

A, B, C = "10.0.0.1", "10.0.0.2", "10.0.0.3"
DELAY = 0.001
# VRRPv2, advert_int 1 s: Master_Down = 3 + (256 - prio) / 256 s
DOWN_100 = 3 + 156 / 256
DOWN_99 = 3 + 157 / 256
SKEW_99 = 157 / 256


@pytest.fixture(autouse=True)
def _never_two_masters() -> Iterator[None]:
    """Every scenario here, whatever it asserts, keeps the timeline invariant."""
    LANS.clear()
    yield
    assert_never_two_masters_longer_than_an_interval()


def node(ip: str, priority: int, **kw: object) -> Instance:
    return Instance(params(ip=ip, priority=priority, **kw))


def pair(**kw_a: object) -> Lan:
    lan = Lan.of(node(A, 100, **kw_a), node(B, 99), delay_s=DELAY)
    lan.start()
    return lan


def steady_pair(**kw_a: object) -> Lan:
    lan = pair(**kw_a)
    lan.run(10)
    assert lan.masters() == {A}
    return lan


def test_the_priority_100_node_becomes_master_and_the_99_node_backup() -> None:
    lan = pair()
    t0 = lan.now
    lan.run(30)
    assert lan.masters() == {A}
    assert lan.state(B) is State.BACKUP
    assert lan.became(A, State.MASTER) == pytest.approx(t0 + DOWN_100)
    assert lan.split_brain_s() == 0
    assert "(VI_1) Entering BACKUP STATE (init)" in lan.logs(A)
    assert "(VI_1) Entering MASTER STATE" in lan.logs(A)


def test_after_master_stops_with_priority_0_backup_is_master_within_skew_time() -> None:
    lan = steady_pair()
    stopped = lan.now
    lan.stop(A)
    lan.run(5)
    assert lan.masters() == {B}
    assert lan.became(B, State.MASTER) - stopped == pytest.approx(DELAY + SKEW_99)
    assert "(VI_1) Backup received priority 0 advertisement" in lan.logs(B)


def test_after_master_dies_silently_backup_takes_over_after_master_down_interval() -> None:
    lan = steady_pair()
    lan.kill(A)
    died = lan.now
    lan.run(10)
    assert lan.masters() == {B}
    took = lan.became(B, State.MASTER) - died
    # the last advert reached B at most one interval before the death
    assert DOWN_99 - 1 < took <= DOWN_99
    assert lan.split_brain_s() == 0


def test_when_the_100_node_returns_it_preempts() -> None:
    lan = steady_pair()
    lan.kill(A)
    lan.run(10)
    back = lan.now
    lan.revive(A, node(A, 100))
    lan.run(10)
    assert lan.masters() == {A}
    assert lan.state(B) is State.BACKUP
    # it ignores the lower-priority master and lets its own Master_Down timer run out
    assert lan.became(A, State.MASTER, after=back) == pytest.approx(back + DOWN_100)
    assert "(VI_1) received lower priority (99) advert from 10.0.0.2 - discarding" in lan.logs(A)
    assert (
        "(VI_1) Master received advert from 10.0.0.1 with higher priority 100, ours 99"
        in lan.logs(B)
    )
    assert lan.split_brain_s() <= DELAY + 1e-9


def test_nopreempt_the_returning_100_node_stays_backup() -> None:
    lan = steady_pair(nopreempt=True)
    lan.kill(A)
    lan.run(10)
    lan.revive(A, node(A, 100, nopreempt=True))
    lan.run(60)
    assert lan.masters() == {B}
    assert lan.state(A) is State.BACKUP


def test_preempt_delay_delays_the_takeover() -> None:
    lan = steady_pair(preempt_delay_s=5.0)
    lan.kill(A)
    lan.run(10)
    back = lan.now
    lan.revive(A, node(A, 100, preempt_delay_s=5.0))
    lan.run(30)
    assert lan.masters() == {A}
    took = lan.became(A, State.MASTER, after=back) - back
    # first lower advert within 1 s starts the 5 s delay; adverts are then accepted until it
    # expires, after which the Master_Down timer from the last accepted one runs out
    assert 4 + DOWN_100 < took <= 5 + DOWN_100 + DELAY
    assert "(VI_1) start preempt delay (5.000000)" in lan.logs(A)


def test_preempt_delay_does_not_delay_the_first_master_at_start() -> None:
    lan = pair(preempt_delay_s=5.0)
    lan.run(10)
    assert lan.became(A, State.MASTER) == pytest.approx(1000.0 + DOWN_100)


def test_equal_priority_started_together_the_higher_ip_wins() -> None:
    lan = Lan.of(node(A, 100), node(B, 100), delay_s=DELAY)
    lan.start()
    lan.run(10)
    assert lan.masters() == {B}
    assert (
        "(VI_1) Master received advert from 10.0.0.2 with same priority 100"
        " but higher IP address than ours" in lan.logs(A)
    )
    assert (
        "(VI_1) Received advert from 10.0.0.1 with lower priority 100, ours 100,"
        " forcing new election" in lan.logs(B)
    )
    assert lan.split_brain_s() <= DELAY + 1e-9


def test_equal_priority_an_existing_master_is_kept_rfc_backup_accepts_equal() -> None:
    lan = Lan.of(node(A, 100), node(B, 100), delay_s=DELAY)
    lan.start(A)
    lan.run(5)
    lan.start(B)
    lan.run(30)
    assert lan.masters() == {A}


def test_address_owner_with_state_master_takes_over_at_once() -> None:
    lan = Lan.of(node(A, 255, state=State.MASTER), node(B, 100), delay_s=DELAY)
    lan.start()
    assert lan.masters() == {A}
    assert lan.became(A, State.MASTER) == lan.now
    lan.run(10)
    assert lan.masters() == {A}


def test_state_master_below_255_starts_as_backup_like_keepalived() -> None:
    lan = Lan.of(node(A, 100, state=State.MASTER), node(B, 99), delay_s=DELAY)
    lan.start()
    assert lan.state(A) is State.BACKUP
    lan.run(10)
    assert lan.became(A, State.MASTER) == pytest.approx(1000.0 + DOWN_100)


def test_two_address_owners_converge_on_one_master() -> None:
    lan = Lan.of(node(A, 255), node(B, 255), delay_s=DELAY)
    lan.start()
    lan.run(20)
    assert len(lan.masters()) == 1
    assert any("CONFIGURATION ERROR" in line for line in lan.logs())


def test_master_hearing_a_lower_priority_master_forces_a_new_election() -> None:
    lan = steady_pair()
    lan.partition(A, B)
    lan.run(10)
    assert lan.masters() == {A, B}  # a partition: both serve
    lan.heal()
    healed = lan.now
    lan.run(5)
    assert lan.masters() == {A}
    assert (
        "(VI_1) Received advert from 10.0.0.2 with lower priority 99, ours 100,"
        " forcing new election" in lan.logs(A)
    )
    assert lan.became(B, State.BACKUP, after=healed) - healed <= 1 + 2 * DELAY


def test_v3_with_advert_int_50ms_fails_over_in_milliseconds() -> None:
    lan = Lan.of(
        node(A, 100, version=3, advert_int_s=0.05),
        node(B, 99, version=3, advert_int_s=0.05),
        delay_s=DELAY,
    )
    lan.start()
    lan.run(2)
    assert lan.masters() == {A}
    lan.kill(A)
    died = lan.now
    lan.run(1)
    down = 0.15 + (157 * 5 * 625 // 16) / 1e6  # v3 skew scales with the interval
    assert down - 0.05 < lan.became(B, State.MASTER, after=died) - died <= down
    # at start the skews differ by 0.2 ms, less than the wire delay: both were briefly master
    assert 0 < lan.split_brain_s() <= DELAY


def test_v3_backup_learns_the_masters_advert_interval() -> None:
    lan = Lan.of(
        node(A, 100, version=3, advert_int_s=0.05),
        node(B, 99, version=3, advert_int_s=1.0),
        delay_s=DELAY,
    )
    lan.start()
    lan.run(5)
    b = lan.hosts[B].instances[0]
    assert b.master_adver_int_us == 50_000
    assert b.master_down_interval_s() == pytest.approx(0.15 + 0.030664)
    lan.kill(A)
    died = lan.now
    lan.run(2)
    assert lan.became(B, State.MASTER, after=died) - died < 0.2
    assert b.master_adver_int_us == 1_000_000  # a master uses its own interval


def test_v2_advert_interval_mismatch_is_dropped() -> None:
    lan = Lan.of(node(A, 100, advert_int_s=2.0), node(B, 99), delay_s=DELAY)
    lan.allow_split_brain = True  # misconfigured: they do not hear each other
    lan.start()
    lan.run(10)
    assert lan.masters() == {A, B}  # they cannot hear each other, as with keepalived
    assert "(VI_1) advertisement interval mismatch mine=1 sec rcv'd=2 sec" in lan.logs(B)


def test_three_routers_the_next_best_takes_over_and_the_best_preempts() -> None:
    lan = Lan.of(node(A, 100), node(B, 90), node(C, 80), delay_s=DELAY)
    lan.start()
    lan.run(10)
    assert lan.masters() == {A}
    lan.kill(A)
    lan.run(10)
    assert lan.masters() == {B}
    lan.stop(B)
    lan.run(5)
    assert lan.masters() == {C}
    lan.revive(A, node(A, 100))
    lan.run(10)
    assert lan.masters() == {A}
    assert lan.state(C) is State.BACKUP
    assert lan.split_brain_s() <= DELAY + 1e-9


def test_three_routers_priority_0_the_higher_backup_wins_the_race() -> None:
    lan = Lan.of(node(A, 100), node(B, 90), node(C, 80), delay_s=DELAY)
    lan.start()
    lan.run(10)
    lan.stop(A)
    lan.run(5)
    assert lan.masters() == {B}
    assert lan.state(C) is State.BACKUP
    assert lan.split_brain_s() == 0


def test_reloading_the_master_with_a_new_priority_does_not_flap() -> None:
    lan = steady_pair()
    lan.records.clear()
    lan.reload(A, node(A, 110))
    lan.run(20)
    assert lan.masters() == {A}
    assert [s for _, _, s in lan.transitions()] == [State.MASTER]
    assert lan.split_brain_s() == 0


def test_ipv6_v3_equal_priority_the_higher_address_wins() -> None:
    lan = Lan.of(node("fe80::1", 100, version=3), node("fe80::2", 100, version=3), delay_s=DELAY)
    lan.start()
    lan.run(10)
    assert lan.masters() == {"fe80::2"}
    assert (
        "(VI_1) Master received advert from fe80::2 with same priority 100"
        " but higher IP address than ours" in lan.logs("fe80::1")
    )


def test_the_timeline_check_does_catch_two_masters() -> None:
    """The invariant fixture is not vacuous: two deaf masters for seconds are reported."""
    lan = Lan.of(node(A, 100, advert_int_s=2.0), node(B, 99), delay_s=DELAY)
    lan.start()
    lan.run(10)
    with pytest.raises(AssertionError, match="two masters"):
        assert_never_two_masters_longer_than_an_interval()
    LANS.clear()
