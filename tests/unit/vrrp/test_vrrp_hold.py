"""Mastership holds (the API's release-master / reclaim-master) on a simulated LAN, fake clock.

A held MASTER leaves as on a graceful stop (priority 0, so the backup takes over after its skew
time), then stays BACKUP: it does not preempt the lower-priority master, does not take over when
that master goes silent, and a sync group cannot pull it up. Lifting the hold (or its expiry)
puts it back in the election: with preempt it takes mastership back within a Master_Down.
"""

from collections.abc import Iterator

import pytest
from vrrp_harness import LANS, Host, Lan, assert_never_two_masters_longer_than_an_interval, params

from pykeepalived.vrrp.events import SendAdvert
from pykeepalived.vrrp.hold import API_HOLDER, MAX_HOLD_S, Hold
from pykeepalived.vrrp.instance import Instance
from pykeepalived.vrrp.states import State

A, B = "10.0.0.1", "10.0.0.2"
DELAY = 0.001
DOWN_100 = 3 + 156 / 256  # VRRPv2, advert_int 1 s
SKEW_99 = 157 / 256


@pytest.fixture(autouse=True)
def _never_two_masters() -> Iterator[None]:
    LANS.clear()
    yield
    assert_never_two_masters_longer_than_an_interval()


def steady_pair(**kw_a: object) -> Lan:
    a = Instance(params(ip=A, priority=100, **kw_a))
    lan = Lan.of(a, Instance(params(ip=B, priority=99)), delay_s=DELAY)
    lan.start()
    lan.run(10)
    assert lan.masters() == {A}
    return lan


def api_hold(lan: Lan, seconds: float | None = None) -> Hold:
    until = lan.now + seconds if seconds is not None else None
    return Hold(holder=API_HOLDER, reason="release-master from 127.0.0.1", since=lan.now,
                until=until)  # fmt: skip


def test_release_sends_priority_0_and_the_backup_takes_over_within_its_skew_time() -> None:
    lan = steady_pair()
    released = lan.now
    lan.hold(A, api_hold(lan))
    assert lan.state(A) is State.BACKUP
    sent = [r.action for r in lan.records if r.host == A and r.time == released]
    assert SendAdvert(priority=0) in sent
    lan.run(5)
    assert lan.masters() == {B}
    assert lan.became(B, State.MASTER, after=released) - released == pytest.approx(DELAY + SKEW_99)
    logs = lan.logs(A)
    assert "(VI_1) Mastership held by api (release-master from 127.0.0.1)" in logs
    assert "(VI_1) Entering BACKUP STATE (mastership released by api)" in logs


def test_held_it_neither_preempts_nor_logs_each_lower_priority_advert() -> None:
    lan = steady_pair()
    lan.hold(A, api_hold(lan))
    lan.run(60)
    assert lan.masters() == {B}
    assert lan.state(A) is State.BACKUP
    a = lan.hosts[A].instance("VI_1")
    assert str(a.master_ip) == B  # it follows the lower-priority master
    assert not any("discarding" in line for line in lan.logs(A))
    (hold,) = a.snapshot().holds
    assert hold.holder == API_HOLDER


def test_reclaim_lifts_the_hold_and_preempt_takes_mastership_back() -> None:
    lan = steady_pair()
    lan.hold(A, api_hold(lan))
    lan.run(20)
    reclaimed = lan.now
    lan.hold(A, None)
    assert "(VI_1) Mastership hold by api lifted: back in the election" in lan.logs(A)
    lan.run(10)
    assert lan.masters() == {A}
    assert lan.state(B) is State.BACKUP
    assert 0 < lan.became(A, State.MASTER, after=reclaimed) - reclaimed <= DOWN_100 + DELAY


def test_held_it_does_not_take_over_when_the_master_dies_and_says_so_once() -> None:
    lan = steady_pair()
    lan.hold(A, api_hold(lan))
    lan.run(5)
    lan.kill(B)
    lan.run(30)
    assert lan.masters() == set()
    warnings = [line for line in lan.logs(A) if "No master heard" in line]
    assert warnings == ["(VI_1) No master heard, but mastership is held by api: staying BACKUP"]
    lifted = lan.now
    lan.hold(A, None)
    lan.run(10)
    assert lan.masters() == {A}
    assert lan.became(A, State.MASTER, after=lifted) - lifted <= DOWN_100


def test_a_hold_with_a_duration_expires_by_itself() -> None:
    lan = steady_pair()
    lan.hold(A, api_hold(lan, seconds=30))
    lan.run(29)
    assert lan.masters() == {B}
    lan.run(1 + DOWN_100 + 0.01)
    assert lan.masters() == {A}
    assert "(VI_1) Mastership hold by api expired: back in the election" in lan.logs(A)
    assert lan.hosts[A].instance("VI_1").snapshot().holds == ()


def test_nopreempt_after_reclaim_it_stays_backup() -> None:
    lan = steady_pair(nopreempt=True)
    lan.hold(A, api_hold(lan))
    lan.run(5)
    lan.hold(A, None)
    lan.run(20)
    assert lan.masters() == {B}


def test_a_hold_on_a_sync_group_member_holds_the_whole_group() -> None:
    def host(ip: str, prio: int) -> Host:
        vi1 = Instance(params(name="VI_1", virtual_router_id=51, ip=ip, priority=prio))
        vi2 = Instance(params(name="VI_2", virtual_router_id=52, ip=ip, priority=prio))
        return Host(ip, [vi1, vi2], {"G": ["VI_1", "VI_2"]})

    lan = Lan(hosts={A: host(A, 100), B: host(B, 90)})
    lan.start()
    lan.run(10)
    assert lan.masters(51) == lan.masters(52) == {A}
    lan.hold(A, api_hold(lan), name="VI_1")
    lan.run(30)
    assert lan.masters(51) == lan.masters(52) == {B}
    group = lan.hosts[A].group
    assert group is not None
    assert group.state is State.BACKUP
    assert all(m.snapshot().holds for m in group.members)
    lan.hold(A, None, name="VI_2")
    lan.run(10)
    assert lan.masters(51) == lan.masters(52) == {A}


def test_hold_values_are_checked() -> None:
    with pytest.raises(ValueError, match="holder"):
        Hold(holder="", reason="x", since=0.0)
    with pytest.raises(ValueError, match="within"):
        Hold(holder="api", reason="x", since=0.0, until=MAX_HOLD_S + 1)
    with pytest.raises(ValueError, match="within"):
        Hold(holder="api", reason="x", since=10.0, until=10.0)


def test_the_api_bound_on_hold_s_is_the_cores() -> None:
    from pykeepalived.state import MAX_HOLD_S as API_MAX_HOLD_S

    assert API_MAX_HOLD_S == MAX_HOLD_S
