"""Sync groups on a simulated LAN: members move together (keepalived vrrp_sync_group)."""

from collections.abc import Iterator

import pytest
from vrrp_harness import LANS, Host, Lan, assert_never_two_masters_longer_than_an_interval, params

from pykeepalived.vrrp.events import StateChanged
from pykeepalived.vrrp.group import SyncGroup
from pykeepalived.vrrp.instance import Instance
from pykeepalived.vrrp.states import State

A, B = "10.0.0.1", "10.0.0.2"


@pytest.fixture(autouse=True)
def _never_two_masters() -> Iterator[None]:
    """Every scenario here, whatever it asserts, keeps the timeline invariant."""
    LANS.clear()
    yield
    assert_never_two_masters_longer_than_an_interval()


def grouped_host(ip: str, prio_1: int, prio_2: int | None = None, **kw: object) -> Host:
    vi1 = Instance(params(name="VI_1", virtual_router_id=51, ip=ip, priority=prio_1, **kw))
    vi2 = Instance(
        params(name="VI_2", virtual_router_id=52, ip=ip, priority=prio_2 or prio_1, **kw)
    )
    return Host(ip, [vi1, vi2], {"G": ["VI_1", "VI_2"]})


def two_groups(prio_a: int = 100, prio_b: int = 90) -> Lan:
    lan = Lan(hosts={A: grouped_host(A, prio_a), B: grouped_host(B, prio_b)})
    lan.start()
    lan.run(10)
    return lan


def group_of(lan: Lan, host: str) -> SyncGroup:
    group = lan.hosts[host].group
    assert group is not None
    return group


def test_the_group_becomes_master_together() -> None:
    lan = two_groups()
    assert lan.masters(51) == lan.masters(52) == {A}
    assert group_of(lan, A).state is State.MASTER
    assert group_of(lan, B).state is State.BACKUP
    # VI_1's timer fired first but had to wait for VI_2; VI_2 then pulled it up at once
    assert lan.became(A, State.MASTER) == pytest.approx(1000.0 + 3 + 156 / 256)
    masters = [t for t, _, s in lan.transitions(A) if s is State.MASTER]
    assert masters == [masters[0], masters[0]]
    assert "VRRP_Group(G) Syncing instances to MASTER state" in lan.logs(A)


def test_a_fault_in_one_member_faults_the_group_and_the_peer_group_takes_over() -> None:
    lan = two_groups()
    lan.fault(A, True, name="VI_1")
    assert [i.state for i in lan.hosts[A].instances] == [State.FAULT, State.FAULT]
    assert group_of(lan, A).state is State.FAULT
    lan.run(5)
    assert lan.masters(51) == lan.masters(52) == {B}
    assert lan.split_brain_s(51) == lan.split_brain_s(52) == 0


def test_the_group_leaves_fault_only_when_no_member_is_faulty() -> None:
    lan = two_groups()
    lan.fault(A, True, name="VI_1")
    lan.fault(A, True, name="VI_2")
    lan.fault(A, False, name="VI_1")
    assert group_of(lan, A).state is State.FAULT
    assert [i.state for i in lan.hosts[A].instances] == [State.FAULT, State.FAULT]
    lan.fault(A, False, name="VI_2")
    assert [i.state for i in lan.hosts[A].instances] == [State.BACKUP, State.BACKUP]
    lan.run(10)
    assert lan.masters(51) == lan.masters(52) == {A}  # and it preempts back, together


def test_one_member_leaving_master_pushes_the_others_to_backup() -> None:
    lan = two_groups()
    lan.kill(B)
    lan.run(5)
    back = grouped_host(B, 110)
    lan.revive(B, *back.instances, groups={"G": ["VI_1", "VI_2"]})
    lan.run(10)
    assert lan.masters(51) == lan.masters(52) == {B}
    pushed = [
        r.action
        for r in lan.records
        if r.host == A and isinstance(r.action, StateChanged) and r.action.new is State.BACKUP
    ]
    assert any("following" in a.reason for a in pushed)
    assert lan.split_brain_s(51) <= 0.001 + 1e-9
    assert lan.split_brain_s(52) <= 0.001 + 1e-9


def test_a_member_does_not_go_master_alone() -> None:
    """Only VI_1's master goes away: the group prefers BACKUP to a split (keepalived)."""
    vi1 = Instance(params(name="VI_1", virtual_router_id=51, ip=A, priority=100))
    vi2 = Instance(params(name="VI_2", virtual_router_id=52, ip=A, priority=100))
    lan = Lan(hosts={A: Host(A, [vi1, vi2]), B: grouped_host(B, 90)})
    lan.start()
    lan.run(10)
    lan.hosts[A].drop("VI_1")  # VI_1 vanishes from A, VI_2 stays
    lan.run(20)
    assert lan.masters(51) == set()
    assert lan.masters(52) == {A}
    assert lan.hosts[B].instance("VI_1").wants_master


def test_mixed_priorities_the_group_goes_where_every_member_can() -> None:
    lan = Lan(hosts={A: grouped_host(A, 100, 80), B: grouped_host(B, 90)})
    lan.start()
    lan.run(30)
    assert lan.masters(51) == lan.masters(52) == {B}


def test_a_member_faulty_before_start_starts_the_whole_group_in_fault() -> None:
    host = grouped_host(A, 100)
    host.instances[0].hold_fault("tracking", "interface eth0 down", 1000.0)
    lan = Lan(hosts={A: host, B: grouped_host(B, 90)})
    lan.start()
    assert [i.state for i in host.instances] == [State.FAULT, State.FAULT]
    assert "(VI_1) entering FAULT state" in lan.logs(A)
    lan.run(10)
    assert lan.masters(51) == lan.masters(52) == {B}


def test_group_shutdown_sends_priority_0_for_every_member() -> None:
    lan = two_groups()
    stopped = lan.now
    lan.stop(A)
    lan.run(5)
    assert lan.masters(51) == lan.masters(52) == {B}
    assert lan.became(B, State.MASTER) - stopped < 1
    assert group_of(lan, A).state is State.STOP


def reloaded(*names: str) -> SyncGroup:
    members = [
        Instance(params(name=n, virtual_router_id=51 + i, ip=A, priority=100))
        for i, n in enumerate(names)
    ]
    return SyncGroup("G", members)


def changes(actions: list[object]) -> list[tuple[str, State, bool]]:
    return [
        (t.source, t.action.new, t.action.resumed)  # type: ignore[attr-defined]
        for t in actions
        if isinstance(t.action, StateChanged)  # type: ignore[attr-defined]
    ]


def test_resume_keeps_a_master_group_master_and_pulls_a_new_member_up() -> None:
    """A reload that adds VI_3 to a MASTER group: VI_1 and VI_2 carry on (resumed, no
    notify, adverts at once), the group stays MASTER silently, VI_3 joins it as MASTER."""
    group = reloaded("VI_1", "VI_2", "VI_3")
    out = group.resume({"VI_1": State.MASTER, "VI_2": State.MASTER}, 1000.0)

    assert changes(out) == [
        ("G", State.MASTER, True),
        ("VI_1", State.MASTER, True),
        ("VI_2", State.MASTER, True),
        ("VI_3", State.BACKUP, False),
        ("VI_3", State.MASTER, False),
    ]
    assert group.state is State.MASTER
    assert [m.state for m in group.members] == [State.MASTER] * 3


def test_resume_keeps_a_backup_group_backup_with_a_new_member_backup() -> None:
    group = reloaded("VI_1", "VI_3")
    out = group.resume({"VI_1": State.BACKUP}, 1000.0)

    assert changes(out) == [
        ("G", State.BACKUP, True),
        ("VI_1", State.BACKUP, True),
        ("VI_3", State.BACKUP, False),
    ]
    assert group.get_timer() is not None  # Master_Down timers armed


def test_resume_with_members_that_disagree_starts_the_group_afresh() -> None:
    group = reloaded("VI_1", "VI_2")
    out = group.resume({"VI_1": State.MASTER, "VI_2": State.BACKUP}, 1000.0)

    assert all(not resumed for _, _, resumed in changes(out))
    assert [m.state for m in group.members] == [State.BACKUP, State.BACKUP]
