"""interface_up_down_delays: the pure debounce (keepalived's update_interface_flags), the cut
for instances on the interface, and the driver between a link watch and the trackers."""

import asyncio
from collections.abc import AsyncIterator

import pytest
from test_vrrp_strict import conf

from pykeepalived.clock import FakeClock, MonotonicClock
from pykeepalived.config.loader import load
from pykeepalived.kernel.ports import LinkState
from pykeepalived.vrrp.from_config import link_delays
from pykeepalived.vrrp.link_delays import Delays, LinkDebounce, Step, clamp
from pykeepalived.vrrp.trackers import LinkTracker
from pykeepalived.vrrp.tracking import Kind


def debounce(down: float = 1.0, up: float = 0.0, start_up: bool = True) -> LinkDebounce:
    d = LinkDebounce({"eth1": Delays(down, up)})
    d.initial("eth1", start_up)
    return d


def test_a_bounce_shorter_than_the_delay_is_not_seen() -> None:
    d, clock = debounce(), FakeClock()
    assert d.change("eth1", False, clock.now()).act is None
    assert d.next_due() == clock.now() + 1.0
    clock.advance(0.9)
    assert d.due(clock.now()) == []
    assert d.change("eth1", True, clock.now()) == Step(note="Delay timer for eth1 cancelled")
    assert d.next_due() is None
    clock.advance(5)
    assert d.due(clock.now()) == []


def test_a_down_that_lasts_counts_when_the_delay_ends_not_restarted_by_repeats() -> None:
    d, clock = debounce(), FakeClock()
    d.change("eth1", False, clock.now())
    clock.advance(0.5)
    assert d.change("eth1", False, clock.now()) == Step()  # same direction: timer kept
    clock.advance(0.5)
    assert d.due(clock.now()) == [("eth1", False)]
    assert d.change("eth1", True, clock.now()).act is True  # up delay 0: at once


def test_up_delay_and_unknown_interfaces() -> None:
    d, clock = debounce(down=0.0, up=2.0), FakeClock()
    assert d.change("eth1", False, clock.now()).act is False
    assert d.change("eth1", True, clock.now()).act is None
    clock.advance(2)
    assert d.due(clock.now()) == [("eth1", True)]
    assert d.change("eth9", False, clock.now()).act is False  # no delays: straight through


def test_no_delay_before_the_interface_was_once_up() -> None:
    d, clock = debounce(up=1.0, start_up=False), FakeClock()
    assert d.change("eth1", True, clock.now()).act is True
    assert d.change("eth1", False, clock.now()).act is None  # now seen up: delayed


@pytest.mark.parametrize(
    ("delays", "advert", "adverts", "cut"),
    [
        (Delays(1.0, 0.5), 1.0, 3, Delays(1.0, 0.5)),
        (Delays(2.0, 3.0), 1.0, 3, Delays(2 - 1 / 256, 2 - 1 / 256)),
        (Delays(0.5, 0.0), 0.05, 3, Delays(0.1 - 0.05 / 256, 0.0)),
        (Delays(0.5, 0.5), 1.0, 1, Delays(0.0, 0.0)),
    ],
)
def test_cut_for_an_instance_on_the_interface(
    delays: Delays, advert: float, adverts: int, cut: Delays
) -> None:
    assert clamp(delays, advert, adverts) == cut


def test_from_config_up_defaults_to_zero_and_own_interface_is_cut() -> None:
    assert link_delays(conf("priority 100")) == {}
    result = load(
        "t.conf",
        text="interface_up_down_delays {\n eth1 5\n trk0 1.5 0.25\n}\n"
        "vrrp_instance VI {\n interface eth1\n virtual_router_id 1\n priority 100\n"
        " virtual_ipaddress {\n  192.168.88.100/24\n }\n}\n",
    )
    assert result.config is not None
    assert link_delays(result.config) == {
        "eth1": Delays(2 - 1 / 256, 0.0),  # advert_int 1, 3 adverts; up: keepalived's 0
        "trk0": Delays(1.5, 0.25),
    }


class FakeLinks:
    """A stand-in link port (named as such): states pushed by the test."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[LinkState] = asyncio.Queue()

    async def is_up(self, ifname: str) -> bool:
        return True

    async def watch(self) -> AsyncIterator[LinkState]:
        while True:
            yield await self.queue.get()


def test_driver_observes_a_long_down_after_its_delay_and_never_a_short_bounce() -> None:
    seen: list[tuple[str, bool | int | None, float]] = []
    clock = MonotonicClock()

    async def observe(kind: Kind, name: str, value: bool | int | None) -> None:
        seen.append((name, value, clock.now()))

    async def scenario() -> None:
        links = FakeLinks()
        d = LinkDebounce({"trk0": Delays(0.2, 0.0)})
        tracker = LinkTracker(links, {"trk0"}, d, clock, observe)
        task = asyncio.create_task(tracker.run())
        await asyncio.sleep(0.01)
        links.queue.put_nowait(LinkState(ifname="trk0", up=False))
        await asyncio.sleep(0.05)
        links.queue.put_nowait(LinkState(ifname="trk0", up=True))
        await asyncio.sleep(0.3)
        assert [v for _, v, _ in seen] == [True]  # only the initial read
        t0 = clock.now()
        links.queue.put_nowait(LinkState(ifname="trk0", up=False))
        await asyncio.sleep(0.5)
        task.cancel()
        assert [v for _, v, _ in seen] == [True, False]
        assert seen[1][2] - t0 >= 0.2

    asyncio.run(scenario())
