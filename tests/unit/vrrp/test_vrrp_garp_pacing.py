"""GARP/NA pacing (pure): keepalived 2.2.7's per-interface spacing and pending-flag collapse."""

from ipaddress import ip_address

from pykeepalived.config.loader import load
from pykeepalived.vrrp.garp_pacing import GarpPacer, Spacing, spacings

V1, V2, V6 = ip_address("192.168.88.100"), ip_address("192.168.88.101"), ip_address("fd00::1")


def burst(pacer: GarpPacer, now: float, repeat: int) -> list[str]:
    """keepalived vrrp_send_link_update: rounds over the VIPs; the ones sent at once."""
    sent = []
    for _ in range(repeat):
        for n, vip in enumerate((V1, V2)):
            if pacer.request("VI", "eth1", vip, now, (0, n)):
                sent.append(str(vip))
    return sent


def test_no_interval_sends_every_repeat_round_robin() -> None:
    pacer = GarpPacer()
    assert burst(pacer, 0.0, 3) == [str(V1), str(V2)] * 3
    assert pacer.next_time() is None


def test_interval_collapses_repeats_into_one_pending_per_vip() -> None:
    pacer = GarpPacer(default=Spacing(garp_s=0.25))
    assert burst(pacer, 0.0, 5) == [str(V1)]
    pacer.sent("eth1", V1, 0.125)  # it left after the request: the spacing counts from there
    assert pacer.next_time() == 0.375
    assert pacer.due(0.25) == []
    assert [a for _, _, a in pacer.due(0.375)] == [V1]  # config order: VIP1 first
    assert [a for _, _, a in pacer.due(0.625)] == [V2]
    assert pacer.next_time() is None


def test_families_and_interfaces_are_paced_apart_and_drop_clears() -> None:
    pacer = GarpPacer(by_if={"eth2": Spacing(garp_s=1.0)}, default=Spacing(garp_s=0.1))
    assert pacer.request("VI", "eth1", V1, 0.0)
    assert pacer.request("VI", "eth1", V6, 0.0)  # no gna_interval: NAs unpaced
    assert pacer.request("VI", "eth2", V1, 0.0)
    assert not pacer.request("VI", "eth2", V2, 0.5)
    pacer.drop("VI")
    assert pacer.next_time() is None


def test_spacings_from_config() -> None:
    text = (
        "global_defs {\n    vrrp_garp_interval 0.2\n    vrrp_gna_interval 0.3\n}\n"
        "garp_group {\n    garp_interval 1.5\n    interfaces {\n        eth2\n    }\n}\n"
    )
    result = load("t.conf", text=text)
    assert result.config is not None
    by_if, default = spacings(result.config)
    assert default == Spacing(0.2, 0.3)
    assert by_if == {"eth2": Spacing(1.5, 0.0)}
