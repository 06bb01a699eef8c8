"""Master_Down_Interval counted from when the receive sockets began listening (process start),
with what they heard meanwhile replayed: a preempting master that took seconds to import comes
back as soon as the RFC allows, and never over a better master it heard while importing.

Fake ports (the kernel's queue is what ``tests/kernel/test_vrrp_listen.py`` tests for real);
the cores, the decoding and the driver's start are the real ones.
"""

import asyncio
from ipaddress import IPv4Address

from test_vrrp_node_receive import FakeTransport, advert, ipv4, make_node, rx

from pykeepalived.clock import FakeClock
from pykeepalived.kernel.ports import EarlyReceived, IPAddress, Received
from pykeepalived.vrrp import early_start
from pykeepalived.vrrp.node import VrrpNode
from pykeepalived.vrrp.states import State

T0 = 1000.0  # the fake clock's start: listening began here
MASTER_DOWN_S = 3 * 1.0 + (256 - 100) / 256  # advert_int 1, priority 100


class EarlyTransport(FakeTransport):
    def __init__(self, heard: EarlyReceived | None) -> None:
        self.heard = heard

    def take_early(self) -> EarlyReceived | None:
        heard, self.heard = self.heard, None
        return heard


def heard(*adverts: tuple[float, bytes], complete: bool = True) -> EarlyReceived:
    """Adverts queued since T0, each (seconds after T0, IPv4 datagram)."""
    queued = tuple(
        Received(data=d, src=rx(d).src, dst=None, ttl=None, has_ip_header=True, arrived=T0 + at)
        for at, d in adverts
    )
    return EarlyReceived(since=T0, adverts=queued, complete=complete)


async def start(early: EarlyReceived | None, ready_after_s: float) -> VrrpNode:
    """The node's start as the daemon runs it, ``ready_after_s`` after listening began; the
    node runs until its first timers have been handled."""
    node = make_node()
    node.ports.open_transport = lambda ifname, src, group: EarlyTransport(early)
    clock = node.ports.clock
    assert isinstance(clock, FakeClock)
    clock.advance(ready_after_s)
    stop = asyncio.Event()
    task = asyncio.create_task(node.run(stop))
    await node.started.wait()
    await asyncio.sleep(0.05)  # due timers run at once
    core = node._cores["HA_WebServer"]
    node.test_state = core.state  # type: ignore[attr-defined]
    node.test_timer = core.get_timer()  # type: ignore[attr-defined]
    stop.set()
    await task
    return node


def state_after(early: EarlyReceived | None, ready_after_s: float) -> tuple[State, float | None]:
    node = asyncio.run(start(early, ready_after_s))
    return node.test_state, node.test_timer  # type: ignore[attr-defined]


def lower(at: float) -> tuple[float, bytes]:
    return at, ipv4(advert(priority=99))


def higher(at: float) -> tuple[float, bytes]:
    return at, ipv4(advert(priority=254))


def test_a_slow_start_heard_only_a_lower_master_so_it_preempts_at_once() -> None:
    early = heard(*(lower(t) for t in (0.3, 1.3, 2.3, 3.3)))
    state, _timer = state_after(early, ready_after_s=4.0)
    assert state is State.MASTER


def test_a_better_master_heard_while_importing_keeps_it_backup() -> None:
    early = heard(*(higher(t) for t in (0.3, 1.3, 2.3, 3.3)))
    state, timer = state_after(early, ready_after_s=4.0)
    assert state is State.BACKUP
    assert timer == T0 + 3.3 + MASTER_DOWN_S  # from the last advert heard


def test_listening_for_less_than_the_interval_waits_for_the_rest_of_it() -> None:
    state, timer = state_after(heard(lower(0.5)), ready_after_s=1.0)
    assert state is State.BACKUP
    assert timer == T0 + MASTER_DOWN_S


def test_an_overflowed_queue_proves_nothing_so_the_whole_interval_runs_from_now() -> None:
    early = heard(lower(0.3), complete=False)
    state, timer = state_after(early, ready_after_s=4.0)
    assert state is State.BACKUP
    assert timer == T0 + 4.0 + MASTER_DOWN_S


def test_without_early_sockets_the_interval_runs_from_now() -> None:
    state, timer = state_after(None, ready_after_s=4.0)
    assert state is State.BACKUP
    assert timer == T0 + 4.0 + MASTER_DOWN_S


def test_forged_adverts_heard_early_are_counted_and_ignored() -> None:
    forged = ipv4(advert(priority=254), ttl=254)
    node = asyncio.run(start(heard((1.0, forged)), ready_after_s=4.0))
    assert node.errors["ttl"] == 1
    assert node.test_state is State.MASTER  # type: ignore[attr-defined]


def test_replay_instants_stay_inside_the_units_life_and_in_order() -> None:
    assert early_start.replay_instant(5.0, unit_start=6.0, previous=6.0, now=9.0) == 6.0
    assert early_start.replay_instant(7.0, unit_start=6.0, previous=7.5, now=9.0) == 7.5
    assert early_start.replay_instant(10.0, unit_start=6.0, previous=6.0, now=9.0) == 9.0


def test_a_unit_starts_from_the_latest_of_its_sockets_and_only_if_all_listened() -> None:
    a = EarlyReceived(since=10.0, adverts=(), complete=True)
    b = EarlyReceived(since=11.0, adverts=(), complete=True)
    assert early_start.start_time([a, b], resumed=False, now=20.0) == 11.0
    assert early_start.start_time([a, None], resumed=False, now=20.0) == 20.0
    assert early_start.start_time([a], resumed=True, now=20.0) == 20.0


def test_adverts_of_several_sockets_replay_oldest_first() -> None:
    one: IPAddress = IPv4Address("192.168.88.2")
    first = Received(data=b"", src=one, dst=None, ttl=None, has_ip_header=True, arrived=2.0)
    second = Received(data=b"", src=one, dst=None, ttl=None, has_ip_header=True, arrived=1.0)
    early = {
        "a": EarlyReceived(since=0.0, adverts=(first,), complete=True),
        "b": EarlyReceived(since=0.0, adverts=(second,), complete=True),
    }
    assert [k for _t, k, _rx in early_start.in_arrival_order(early, now=3.0)] == ["b", "a"]
