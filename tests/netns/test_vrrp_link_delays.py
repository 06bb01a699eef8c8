"""interface_up_down_delays in real daemons: ``a`` (priority 100) tracks trk0 with a 1 s down
delay and no up delay (``trk0 1``: keepalived's parser leaves the up delay at 0). A 0.3 s
bounce of trk0 does not move the VIP; a down that lasts moves it to ``b`` (99) one delay
after the link went down, and the link's return brings it back at once. The same scenario
runs with keepalived 2.2.7 as ``a`` (``VRRP_REFERENCE=1``): both behave alike.

Why trk0 and not eth1: on an instance's own interface keepalived cuts the delays below
2 * advert_int (0.1 s here), too short to tell a bounce from a delay on a loaded machine.
"""

import os
import time
from collections.abc import Iterator

import pytest
from tests.kernel.nsutil import run

from .test_vrrp_tracking import dummy
from .vrrplab import VIP, VrrpLab, config, instance_conf, vrrp_lab, wait_sole

pytestmark = pytest.mark.root
DELAY_S = 1.0


@pytest.fixture
def lab() -> Iterator[VrrpLab]:
    with vrrp_lab() as network:
        yield network


REFERENCE = pytest.mark.skipif(
    not os.environ.get("VRRP_REFERENCE"),
    reason="keepalived reference run: VRRP_REFERENCE=1 (4.5 s kept out of CI; it passes)",
)


@pytest.mark.parametrize("impl", ["py", pytest.param("ka", marks=REFERENCE)])
def test_down_delay_ignores_a_short_bounce_and_delays_a_long_down(lab: VrrpLab, impl: str) -> None:
    dummy(lab, "a")
    delays = f"interface_up_down_delays {{\n    trk0 {DELAY_S:g}\n}}\n"
    track = "track_interface {\n    trk0\n}"
    lab.start("b", config(instance_conf(priority=99)))
    lab.start("a", config(delays, instance_conf(priority=100, extra=track)), impl=impl)
    wait_sole(lab, VIP, "a", timeout=20)

    t0 = time.monotonic()
    run("ip", "link", "set", "trk0", "down", ns=lab.ns["a"])
    time.sleep(0.3)
    run("ip", "link", "set", "trk0", "up", ns=lab.ns["a"])
    time.sleep(t0 + DELAY_S + 0.5 - time.monotonic())  # past when the delay would have ended
    assert lab.watch.holders(VIP) == {"a"}
    assert all(h != "b" for t, h, _, addr in lab.watch.events if t >= t0 and addr == VIP)

    t1 = time.monotonic()
    run("ip", "link", "set", "trk0", "down", ns=lab.ns["a"])
    moved = lab.watch.wait_for(VIP, "b", after=t1, timeout=5) - t1
    # Not before the delay; after it, a FAULT advert (priority 0) moves it within a few adverts.
    assert DELAY_S <= moved < DELAY_S + 1.0, moved
    t2 = time.monotonic()
    run("ip", "link", "set", "trk0", "up", ns=lab.ns["a"])
    back = lab.watch.wait_for(VIP, "a", after=t2, timeout=5) - t2
    assert back < 1.0, back  # no up delay: BACKUP at once, then preempts the lower b
    print(f"{impl}: VIP moved {moved:.3f} s after the down, back {back:.3f} s after the up")
