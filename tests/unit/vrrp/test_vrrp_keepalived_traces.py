"""Log sequences keepalived 2.2.7 printed (run with -D) on a pair of network namespaces joined by
a veth, 10.99.0.1 (A) and 10.99.0.2 (B), VRID 51, advert_int 1, replayed on the simulated LAN.

Lines about addresses and ARP ("setting VIPs.", "removing VIPs.", "Sending/queueing gratuitous
ARPs ...") are the driver's and left out; every other line keepalived printed is here, in order.
The takeover delays measured there are asserted too (to the millisecond keepalived's timers allow).
"""

from collections.abc import Iterator

import pytest
from vrrp_harness import LANS, Host, Lan, assert_never_two_masters_longer_than_an_interval, params

from pykeepalived.vrrp.instance import Instance
from pykeepalived.vrrp.states import State
from pykeepalived.vrrp.tracking import Effect, verdict

A, B = "10.99.0.1", "10.99.0.2"


@pytest.fixture(autouse=True)
def _never_two_masters() -> Iterator[None]:
    LANS.clear()
    yield
    assert_never_two_masters_longer_than_an_interval()


def node(ip: str, priority: int, **kw: object) -> Instance:
    return Instance(params(ip=ip, priority=priority, **kw))


def lines_since(lan: Lan, host: str, mark: int) -> list[str]:
    return [
        line
        for r in lan.records[mark:]
        if r.host == host and (line := getattr(r.action, "message", None))
    ]


def b_master_a_returns(priority: int = 100, **a_kw: object) -> tuple[Lan, int]:
    lan = Lan.of(node(B, 99), delay_s=0.0005)
    lan.start()
    lan.run(10)
    mark = len(lan.records)
    lan.hosts[A] = Host(A, [node(A, priority, **a_kw)])
    lan.run(0.3)  # A starts a little after one of B's adverts
    lan.start(A)
    return lan, mark


def test_trace_preempt_delay() -> None:
    lan, mark = b_master_a_returns(preempt_delay_s=5.0)
    lan.run(12)
    discard = "(VI_1) received lower priority (99) advert from 10.99.0.2 - discarding"
    assert lines_since(lan, A, mark) == [
        "(VI_1) Entering BACKUP STATE (init)",
        "(VI_1) start preempt delay (5.000000)",
        discard,
        discard,
        discard,
        "(VI_1) Receive advertisement timeout",
        "(VI_1) Entering MASTER STATE",
    ]
    assert lines_since(lan, B, mark) == [
        "(VI_1) Master received advert from 10.99.0.1 with higher priority 100, ours 99",
        "(VI_1) Entering BACKUP STATE",
    ]


def test_trace_address_owner_starts_as_master() -> None:
    lan, mark = b_master_a_returns(state=State.MASTER, priority=255)
    lan.run(3)
    assert lines_since(lan, A, mark) == [
        "(VI_1) Receive advertisement timeout",
        "(VI_1) Entering MASTER STATE",
    ]
    assert lines_since(lan, B, mark) == [
        "(VI_1) Master received advert from 10.99.0.1 with higher priority 255, ours 99",
        "(VI_1) Entering BACKUP STATE",
    ]


def test_trace_equal_priority_newcomer_with_higher_address_stays_backup() -> None:
    lan = Lan.of(node(A, 99), delay_s=0.0005)
    lan.start()
    lan.run(10)
    mark = len(lan.records)
    lan.hosts[B] = Host(B, [node(B, 99)])
    lan.start(B)
    lan.run(8)
    assert lines_since(lan, B, mark) == ["(VI_1) Entering BACKUP STATE (init)"]
    assert lan.masters() == {A}


def test_trace_second_address_owner_yields() -> None:
    lan = Lan.of(node(B, 255), delay_s=0.0005)
    lan.start()  # B first, A a moment later: only B hears the other owner
    mark = len(lan.records)
    lan.hosts[A] = Host(A, [node(A, 255)])
    lan.run(0.2)
    lan.start(A)
    lan.run(5)
    assert lines_since(lan, B, 0) == [
        "(VI_1) Receive advertisement timeout",
        "(VI_1) Entering MASTER STATE",
        "(VI_1) CONFIGURATION ERROR: local instance and a remote instance are both configured"
        " as address owner, please fix - reducing local priority",
        "(VI_1) Master received advert from 10.99.0.1 with higher priority 255, ours 254",
        "(VI_1) Entering BACKUP STATE",
    ]
    assert lines_since(lan, A, mark) == [
        "(VI_1) Receive advertisement timeout",
        "(VI_1) Entering MASTER STATE",
    ]


def test_trace_partition_heals_by_forcing_a_new_election() -> None:
    lan = Lan.of(node(A, 100), node(B, 99), delay_s=0.0005)
    lan.start()
    lan.run(10)
    lan.partition(A, B)
    lan.run(6)
    mark = len(lan.records)
    lan.heal()
    lan.run(3)
    assert lines_since(lan, A, mark)[0] == (
        "(VI_1) Received advert from 10.99.0.2 with lower priority 99, ours 100,"
        " forcing new election"
    )
    assert lines_since(lan, B, mark) == [
        "(VI_1) Master received advert from 10.99.0.1 with higher priority 100, ours 99",
        "(VI_1) Entering BACKUP STATE",
    ]


def test_trace_master_fault_sends_priority_0_twice_and_backup_takes_over_in_skew() -> None:
    lan = Lan.of(node(A, 100), node(B, 99), delay_s=0.0005)
    lan.start()
    lan.run(10)
    mark, faulted = len(lan.records), lan.now
    lan.track(A, verdict(100, [Effect(fault="tracked file tf has status 1")]))
    lan.run(3)
    assert lines_since(lan, A, mark) == ["(VI_1) Entering FAULT STATE", "(VI_1) sent 0 priority"]
    assert lines_since(lan, B, mark) == [
        "(VI_1) Backup received priority 0 advertisement",
        "(VI_1) Backup received priority 0 advertisement",
        "(VI_1) Receive advertisement timeout",
        "(VI_1) Entering MASTER STATE",
    ]
    # keepalived: 0.615 s between the last priority 0 line and MASTER (skew 157/256 = 0.613)
    assert lan.became(B, State.MASTER) - faulted == pytest.approx(0.0005 + 157 / 256, abs=1e-6)


def test_trace_priority_raised_right_after_priority_0_our_deliberate_difference() -> None:
    """keepalived took over 3.42 s after the priority 0 advert (its deadline moved by a whole
    Master_Down); we take over after the new, shorter skew time."""
    lan = Lan.of(node(A, 100), node(B, 99), delay_s=0.0005)
    lan.start()
    lan.run(10)
    lan.stop(A)
    stopped = lan.now
    lan.run(0.25)
    lan.track(B, verdict(99, [Effect(delta=50)]))
    lan.run(5)
    assert "(VI_1) Changing effective priority from 99 to 149" in lan.logs(B)
    assert lan.became(B, State.MASTER) - stopped == pytest.approx(0.0005 + 107 / 256, abs=1e-6)


def test_trace_v3_backup_learns_50ms_and_goes_back_to_its_own_interval() -> None:
    lan = Lan.of(node(A, 100, version=3, advert_int_s=0.05), node(B, 99, version=3), delay_s=0.0005)
    lan.hosts[A].alive = False
    lan.start(B)
    lan.run(1)
    lan.hosts[A].alive = True
    lan.start(A)
    lan.run(8)
    mark, silenced = len(lan.records), lan.now
    lan.kill(A)
    lan.run(1)
    assert lines_since(lan, B, 0)[:2] == [
        "(VI_1) Entering BACKUP STATE (init)",
        "(VI_1) advertisement interval updated from 1000ms to 50ms by master",
    ]
    assert lines_since(lan, B, mark) == [
        "(VI_1) Receive advertisement timeout",
        "(VI_1) Entering MASTER STATE",
        "(VI_1) changing advert interval from 50ms to locally configured 1000ms",
    ]
    assert lan.became(B, State.MASTER, after=silenced) - silenced < 0.181


def test_trace_sync_group_member_held_back_then_pulled_up() -> None:
    def a_host() -> Host:
        return Host(
            A,
            [
                Instance(params(name="VI_1", virtual_router_id=51, ip=A, priority=100)),
                Instance(params(name="VI_2", virtual_router_id=52, ip=A, priority=100)),
            ],
        )

    b = Host(
        B,
        [
            Instance(params(name="VI_1", virtual_router_id=51, ip=B, priority=90)),
            Instance(params(name="VI_2", virtual_router_id=52, ip=B, priority=90)),
        ],
        {"G": ["VI_1", "VI_2"]},
    )
    lan = Lan(hosts={A: a_host(), B: b}, delay_s=0.0005)
    lan.start()
    lan.run(8)
    mark = len(lan.records)
    lan.muted.add((A, 51))  # keepalived run: nft dropped A's VRID 51 adverts
    lan.run(12)
    assert lines_since(lan, B, mark) == ["(VI_1) Receive advertisement timeout"] * 3
    lan.muted.clear()
    mark = len(lan.records)
    lan.stop(A)
    lan.run(3)
    assert lines_since(lan, B, mark) == [
        "(VI_1) Backup received priority 0 advertisement",
        "(VI_2) Backup received priority 0 advertisement",
        "(VI_1) Receive advertisement timeout",
        "(VI_2) Receive advertisement timeout",
        "(VI_2) Entering MASTER STATE",
        "VRRP_Group(G) Syncing instances to MASTER state",
        "(VI_1) Entering MASTER STATE",
    ]


def test_trace_address_owner_fault_and_recovery_goes_through_backup() -> None:
    lan, _ = b_master_a_returns(state=State.MASTER, priority=255)
    lan.run(4)
    mark = len(lan.records)
    lan.track(A, verdict(255, [Effect(fault="tracked file tf has status -254")]))
    lan.run(3)
    recovered = lan.now
    lan.track(A, verdict(255, []))
    lan.run(4)
    discard = "(VI_1) received lower priority (99) advert from 10.99.0.2 - discarding"
    assert lines_since(lan, A, mark) == [
        "(VI_1) Entering FAULT STATE",
        "(VI_1) sent 0 priority",
        "(VI_1) Entering BACKUP STATE",
        discard,
        discard,
        discard,
        "(VI_1) Receive advertisement timeout",
        "(VI_1) Entering MASTER STATE",
    ]
    # keepalived: BACKUP at 2107.544, MASTER at 2110.549 (3 s + 1/256 s)
    assert lan.became(A, State.MASTER, after=recovered) - recovered == pytest.approx(
        3 + 1 / 256, abs=1e-6
    )


def test_trace_start_in_fault() -> None:
    inst = node(A, 255, state=State.MASTER)
    lan = Lan.of(inst, node(B, 99), delay_s=0.0005)
    lan.hosts[A].router.hold_fault("VI_1", "tracking", "tracked file tf has status -254", lan.now)
    lan.start()
    assert lan.logs(A) == ["(VI_1) entering FAULT state"]


def test_trace_sync_group_fault_and_recovery() -> None:
    def instances(ip: str, prio: int) -> list[Instance]:
        return [
            Instance(params(name="VI_1", virtual_router_id=51, ip=ip, priority=prio)),
            Instance(params(name="VI_2", virtual_router_id=52, ip=ip, priority=prio)),
        ]

    b = Host(B, instances(B, 90), {"G": ["VI_1", "VI_2"]})
    lan = Lan(hosts={A: Host(A, instances(A, 100)), B: b}, delay_s=0.0005)
    lan.start()
    lan.run(7)
    mark = len(lan.records)
    lan.track(B, verdict(90, [Effect(fault="tracked file tf has status -254")]), name="VI_1")
    lan.run(2)
    lan.track(B, verdict(90, []), name="VI_1")
    lan.run(5)
    assert lines_since(lan, B, mark) == [
        "(VI_1) Entering FAULT STATE",
        "VRRP_Group(G) Syncing instances to FAULT state",
        "(VI_1) Entering BACKUP STATE",
        "VRRP_Group(G) Syncing instances to BACKUP state",
        "(VI_2) Entering BACKUP STATE",
    ]
    # VI_2's move to FAULT had no line in keepalived, but it is still a state change to notify
    silent = [
        r.action
        for r in lan.records[mark:]
        if r.host == B and r.source == "VI_2" and getattr(r.action, "message", None) == ""
    ]
    assert len(silent) == 1


def test_trace_sync_group_fault_while_master_and_back_to_master() -> None:
    def instances() -> list[Instance]:
        return [
            Instance(params(name="VI_1", virtual_router_id=51, ip=B, priority=90)),
            Instance(params(name="VI_2", virtual_router_id=52, ip=B, priority=90)),
        ]

    lan = Lan(hosts={B: Host(B, instances(), {"G": ["VI_1", "VI_2"]})}, delay_s=0.0005)
    lan.start()
    lan.run(8)
    mark = len(lan.records)
    lan.track(B, verdict(90, [Effect(fault="tracked file tf has status -254")]), name="VI_1")
    lan.run(2)
    recovered = lan.now
    lan.track(B, verdict(90, []), name="VI_1")
    lan.run(5)
    assert lines_since(lan, B, mark) == [
        "(VI_1) Entering FAULT STATE",
        "(VI_1) sent 0 priority",
        "VRRP_Group(G) Syncing instances to FAULT state",
        "(VI_2) Entering FAULT STATE",
        "(VI_1) Entering BACKUP STATE",
        "VRRP_Group(G) Syncing instances to BACKUP state",
        "(VI_2) Entering BACKUP STATE",
        "(VI_1) Receive advertisement timeout",
        "(VI_2) Receive advertisement timeout",
        "(VI_2) Entering MASTER STATE",
        "VRRP_Group(G) Syncing instances to MASTER state",
        "(VI_1) Entering MASTER STATE",
    ]
    # keepalived: BACKUP at 2387.692, MASTER at 2391.341 (3 + 166/256 s)
    assert lan.became(B, State.MASTER, after=recovered) - recovered == pytest.approx(
        3 + 166 / 256, abs=1e-6
    )
