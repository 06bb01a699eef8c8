"""The desired LVS table follows keepalived's rules (check/ipwrapper.c)."""

from ipaddress import ip_address
from pathlib import Path

import pytest

from pykeepalived.config.loader import load
from pykeepalived.config.model import KeepalivedConfig
from pykeepalived.lvs.desired import Health, RealServerId, compute
from pykeepalived.lvs.table import Method, ServiceKey

SEED = Path(__file__).parents[3] / "examples" / "seed" / "keepalived-master.conf"
VS = "192.168.88.100:80/TCP"
SEED_KEY = ServiceKey(family=4, protocol="TCP", address=ip_address("192.168.88.100"), port=80)
RS1 = RealServerId(VS, ip_address("192.168.88.10"), 80)
RS2 = RealServerId(VS, ip_address("192.168.88.11"), 80)


def config(text: str) -> KeepalivedConfig:
    result = load("test.conf", text=text)
    assert not result.errors, [d.render() for d in result.errors]
    assert result.config is not None
    return result.config


def weights(table: object, key: ServiceKey = SEED_KEY) -> dict[str, int]:
    entry = table[key]  # type: ignore[index]
    return {str(d.address): dest.weight for d, dest in entry.destinations.items()}


def seed_like(extra: str = "", rs_extra: str = "") -> KeepalivedConfig:
    servers = "".join(
        f"real_server 192.168.88.{n} 80 {{ weight 3\n{rs_extra}\n TCP_CHECK {{ }} }}\n"
        for n in (10, 11)
    )
    return config(
        f"virtual_server 192.168.88.100 80 {{ lb_algo wlc\n lb_kind DR\n {extra}\n {servers} }}"
    )


def test_seed_table_is_what_ipvsadm_shows_for_keepalived() -> None:
    seed = load(str(SEED)).config
    assert seed is not None
    state = compute(seed, {})
    (key,) = state.table
    assert key == SEED_KEY
    entry = state.table[key]
    assert entry.service.scheduler == "wlc"
    assert {(str(k), d.weight, d.method) for k, d in entry.destinations.items()} == {
        ("192.168.88.10:80", 3, Method.DR),
        ("192.168.88.11:80", 3, Method.DR),
    }
    assert state.quorum_up == {VS: True}


def test_dead_real_server_is_removed() -> None:
    state = compute(seed_like(), {RS1: Health(up=False)})
    assert weights(state.table) == {"192.168.88.11": 3}


def test_inhibit_on_failure_keeps_it_at_weight_zero() -> None:
    state = compute(seed_like("inhibit_on_failure"), {RS1: Health(up=False)})
    assert weights(state.table) == {"192.168.88.10": 0, "192.168.88.11": 3}


def test_dynamic_weight_overrides_config_weight() -> None:
    state = compute(seed_like(), {RS1: Health(up=True, weight=7)})
    assert weights(state.table) == {"192.168.88.10": 7, "192.168.88.11": 3}


def test_alpha_starts_real_servers_down_until_health_says_up() -> None:
    state = compute(seed_like("alpha"), {})
    assert weights(state.table) == {}
    assert state.quorum_up == {VS: False}
    state = compute(seed_like("alpha"), {RS2: Health(up=True)}, state.quorum_up)
    assert weights(state.table) == {"192.168.88.11": 3}


def test_all_down_keeps_the_service_with_no_destination() -> None:
    state = compute(seed_like(), {RS1: Health(up=False), RS2: Health(up=False)})
    assert weights(state.table) == {}


SORRY = "sorry_server 192.168.88.200 80\n quorum 4\n"


@pytest.mark.parametrize(
    ("up", "expected"),
    [
        ((True, True), {"192.168.88.10": 3, "192.168.88.11": 3}),
        ((True, False), {"192.168.88.200": 1}),
        ((False, False), {"192.168.88.200": 1}),
    ],
)
def test_sorry_server_replaces_real_servers_while_quorum_is_lost(
    up: tuple[bool, bool], expected: dict[str, int]
) -> None:
    health = {RS1: Health(up=up[0]), RS2: Health(up=up[1])}
    state = compute(seed_like(SORRY), health, {VS: True})
    assert weights(state.table) == expected


def test_sorry_server_inhibit_keeps_it_at_weight_zero_when_not_needed() -> None:
    state = compute(seed_like(SORRY + "sorry_server_inhibit"), {}, {VS: True})
    assert weights(state.table) == {"192.168.88.10": 3, "192.168.88.11": 3, "192.168.88.200": 0}


def test_inhibited_real_servers_stay_at_zero_beside_the_sorry_server() -> None:
    health = {RS1: Health(up=True), RS2: Health(up=False)}
    state = compute(seed_like(SORRY + "inhibit_on_failure"), health, {VS: True})
    assert weights(state.table) == {"192.168.88.10": 0, "192.168.88.11": 0, "192.168.88.200": 1}


@pytest.mark.parametrize(
    ("was_up", "live", "now_up"),
    [
        # quorum 6, hysteresis 2: gain needs >= 8, loss happens below 4
        (False, 6, False),
        (False, 8, True),
        (True, 4, True),
        (True, 3, False),
        (True, 0, False),
        (None, 8, True),
        (None, 7, False),
    ],
)
def test_quorum_with_hysteresis(was_up: bool | None, live: int, now_up: bool) -> None:
    cfg = seed_like("quorum 6\n hysteresis 2")
    health = {RS1: Health(up=live > 0, weight=live), RS2: Health(up=False)}
    previous = None if was_up is None else {VS: was_up}
    assert compute(cfg, health, previous).quorum_up == {VS: now_up}


def test_virtual_server_group_expands_ranges_and_fwmarks() -> None:
    cfg = config(
        """
        virtual_server_group web {
            10.0.0.1-3 80
            fwmark 7
        }
        virtual_server group web {
            lvs_sched rr
            real_server 10.1.0.1 80 { weight 2 }
        }
        """
    )
    state = compute(cfg, {})
    assert sorted(str(k) for k in state.table) == [
        "FWM 7",
        "TCP 10.0.0.1:80",
        "TCP 10.0.0.2:80",
        "TCP 10.0.0.3:80",
    ]
    for key in state.table:
        assert weights(state.table, key) == {"10.1.0.1": 2}


def test_service_attributes_follow_the_config() -> None:
    cfg = config(
        """
        virtual_server fd00::100 443 {
            lvs_sched mh
            mh-port
            persistence_timeout 600
            protocol UDP
            ops
            real_server fd00::10 443 { lvs_method TUN type gue port 6080 }
        }
        """
    )
    (entry,) = compute(cfg, {}).table.values()
    service = entry.service
    assert str(service.key) == "UDP [fd00::100]:443"
    assert (service.scheduler, service.flags) == ("mh", frozenset({"mh-port"}))
    assert (service.persistence_timeout, service.one_packet) == (600, True)
    (dest,) = entry.destinations.values()
    assert (dest.method, dest.tunnel_type, dest.tunnel_port) == (Method.TUN, "gue", 6080)
