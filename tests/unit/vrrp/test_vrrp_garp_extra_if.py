"""garp_extra_if: the core's timer (due at the first advert after each interval while
MASTER, keepalived's vrrp_state_master_tx), which VIPs a round announces (keepalived's
vrrp_send_vmac_update) and the instance/global resolution."""

from ipaddress import ip_interface

import pytest
from test_vrrp_instance import T0, master
from test_vrrp_strict import conf

from pykeepalived.kernel.ports import VipSpec
from pykeepalived.vrrp.events import Action, SendExtraGratuitous
from pykeepalived.vrrp.from_config import instance_params
from pykeepalived.vrrp.garp_pacing import extra_if_targets
from pykeepalived.vrrp.instance import Instance


def vip(address: str, ifname: str) -> VipSpec:
    return VipSpec(address=ip_interface(address), ifname=ifname)


def run_master(inst: Instance, until: float) -> list[float]:
    """Drive the timers to ``until``; when SendExtraGratuitous came out."""
    out: list[float] = []
    while (when := inst.get_timer()) is not None and when <= until:
        actions: list[Action] = inst.handle_timer(when)
        out += [when for a in actions if isinstance(a, SendExtraGratuitous)]
    return out


def test_due_at_the_first_advert_after_each_interval_and_only_while_master() -> None:
    inst = master(garp_master_delay_s=0.0, garp_extra_if_s=3.0)  # advert_int 1 s
    start = inst.get_timer()
    assert start is not None
    became = start - 1.0
    times = run_master(inst, became + 10.5)
    assert [round(t - became, 6) for t in times] == [3.0, 6.0, 9.0]
    inst.hold_fault("tracking", "interface eth2 down", became + 11)
    assert run_master(inst, became + 30) == []


def test_off_by_default() -> None:
    inst = master(garp_master_delay_s=0.0)
    assert run_master(inst, T0 + 20) == []


def test_params_refuse_a_negative_interval() -> None:
    with pytest.raises(ValueError, match="garp_extra_if"):
        master(garp_extra_if_s=-1.0)


VIPS = (
    vip("192.168.88.100/24", "eth1"),
    vip("10.9.0.1/24", "eth2"),
    vip("10.9.0.2/24", "eth2"),
    vip("10.8.0.1/24", "vrrp.19"),
    vip("fd00:9::1/64", "eth3"),
)


@pytest.mark.parametrize(
    ("own", "every", "xmit_base", "vmacs", "want"),
    [
        # all: the first VIP of each other interface, the own one skipped
        ("eth1", True, False, frozenset(), ["10.9.0.1", "10.8.0.1", "fd00:9::1"]),
        # without all only VMACs count (keepalived's is_ours)
        ("eth1", False, False, frozenset({"vrrp.19"}), ["10.8.0.1"]),
        ("eth1", False, False, frozenset(), []),
        # the own interface with vmac_xmit_base (its adverts leave from the base)
        ("eth1", True, True, frozenset(), ["192.168.88.100", "10.9.0.1", "10.8.0.1", "fd00:9::1"]),
    ],
)
def test_which_vips_a_round_announces(
    own: str, every: bool, xmit_base: bool, vmacs: frozenset[str], want: list[str]
) -> None:
    got = extra_if_targets(VIPS, own, every=every, xmit_base=xmit_base, vmacs=vmacs)
    assert [str(v.address.ip) for v in got] == want


def test_nothing_when_every_vip_is_on_the_own_interface() -> None:
    own_only = (vip("192.168.88.100/24", "vrrp.18"), vip("192.168.88.101/24", "vrrp.18"))
    vmacs = frozenset({"vrrp.18"})
    assert extra_if_targets(own_only, "vrrp.18", every=True, xmit_base=True, vmacs=vmacs) == []


@pytest.mark.parametrize(
    ("instance", "global_lines", "interval"),
    [
        ("", "", 0.0),
        ("", "vrrp_garp_extra_if all 60", 60.0),
        ("garp_extra_if 5", "vrrp_garp_extra_if all 60", 5.0),
        ("garp_extra_if 0", "vrrp_garp_extra_if all 60", 0.0),  # the instance turns it off
        ("vmac_garp_intvl all 7", "", 7.0),  # keepalived's deprecated spelling
    ],
)
def test_instance_then_global(instance: str, global_lines: str, interval: float) -> None:
    config = conf(f"priority 100\n{instance}", global_lines)
    p = instance_params(config.vrrp_instance[0], config, ip_interface("192.168.88.8/24").ip)
    assert p.garp_extra_if_s == interval
