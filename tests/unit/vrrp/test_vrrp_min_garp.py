"""vrrp_min_garp (global_defs): one gratuitous ARP/NA at takeover and no second block 5 s
later, for what the config leaves at keepalived's defaults; what it sets stays."""

from ipaddress import IPv4Address

import pytest
from test_vrrp_strict import conf

from pykeepalived.vrrp.events import SendGratuitous
from pykeepalived.vrrp.from_config import instance_params
from pykeepalived.vrrp.instance import Instance
from pykeepalived.vrrp.states import State

SRC = IPv4Address("192.168.88.8")


def garp(instance_lines: str, global_lines: str) -> tuple[float, int, float, int, float, int]:
    config = conf(f"priority 100\n{instance_lines}", global_lines)
    p = instance_params(config.vrrp_instance[0], config, SRC)
    return (
        p.garp_master_delay_s,
        p.garp_master_repeat,
        p.garp_master_refresh_s,
        p.garp_master_refresh_repeat,
        p.garp_lower_prio_delay_s,
        p.garp_lower_prio_repeat,
    )


@pytest.mark.parametrize(
    ("instance_lines", "global_lines", "values"),
    [
        ("", "", (5.0, 5, 0.0, 1, 5.0, 5)),  # keepalived's defaults
        ("", "vrrp_min_garp", (0.0, 1, 0.0, 1, 0.0, 1)),
        ("", "vrrp_min_garp true", (0.0, 1, 0.0, 1, 0.0, 1)),
        ("", "vrrp_min_garp false", (5.0, 5, 0.0, 1, 5.0, 5)),
        ("", "vrrp_min_garp\nvrrp_garp_master_repeat 3", (0.0, 3, 0.0, 1, 0.0, 3)),
        ("garp_master_delay 2\ngarp_master_repeat 2", "vrrp_min_garp", (2.0, 2, 0.0, 1, 0.0, 1)),
        ("", "vrrp_min_garp\nvrrp_garp_lower_prio_repeat 4", (0.0, 1, 0.0, 1, 0.0, 4)),
    ],
)
def test_min_garp_sets_only_what_is_left_at_its_default(
    instance_lines: str, global_lines: str, values: tuple[float, int, float, int, float, int]
) -> None:
    assert garp(instance_lines, global_lines) == values


def test_a_min_garp_master_announces_once_and_never_again() -> None:
    config = conf("priority 100", "vrrp_min_garp")
    core = Instance(instance_params(config.vrrp_instance[0], config, SRC))
    core.start(0.0)
    actions = core.handle_timer(10.0)  # master-down expired: MASTER
    assert core.state is State.MASTER
    assert [a.repeat for a in actions if isinstance(a, SendGratuitous)] == [1]
    later = [a for t in (10.5, 15.0, 15.1, 20.0) for a in core.handle_timer(t)]
    assert not [a for a in later if isinstance(a, SendGratuitous)]
