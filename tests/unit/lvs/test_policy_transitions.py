"""Quorum, hysteresis, sorry_server, inhibit_on_failure and the notify scripts across transitions.

Each scenario is a sequence of health changes on three real servers (.10, .11, .12, weight 3
each) of one DR virtual server; after each step the table, the quorum state and the scripts
run must be what keepalived does. The comment on each row names the code in keepalived's
``check/ipwrapper.c`` that decides it (init_service_vs, init_service_rs, perform_svr_state,
update_quorum_state, perform_quorum_state, update_svr_wgt, and ipvswrapper.c ipvs_cmd, which
turns a removal of an inhibited server into "weight 0" and an addition into an edit).
"""

from collections.abc import Mapping
from typing import NamedTuple

import pytest

from pykeepalived.config.loader import load
from pykeepalived.config.model import KeepalivedConfig
from pykeepalived.lvs.desired import Health, RealServerId, compute, real_server_id
from pykeepalived.lvs.events import scripts, shutdown_scripts

SORRY = "sorry_server 192.168.88.200 80\n"


class Step(NamedTuple):
    changes: Mapping[str, bool | int]  # server -> up/down, or an int: up with that weight
    table: Mapping[str, int]  # server (last octet, 200 = sorry) -> weight in the table
    quorum: bool
    scripts: tuple[str, ...]  # "up 10", "down 11", "Q up", "Q down", in order


def config(vs_extra: str) -> KeepalivedConfig:
    servers = "".join(
        f"real_server 192.168.88.{n} 80 {{ weight 3\n"
        f' notify_up "/bin/echo up {n}"\n notify_down "/bin/echo down {n}"\n TCP_CHECK {{ }} }}\n'
        for n in (10, 11, 12)
    )
    text = (
        "virtual_server 192.168.88.100 80 {\n lvs_method DR\n"
        ' quorum_up "/bin/echo Q up"\n quorum_down "/bin/echo Q down"\n'
        f"{vs_extra}\n{servers}}}\n"
    )
    result = load("test.conf", text=text)
    assert not result.errors, [d.render() for d in result.errors]
    assert result.config is not None
    return result.config


SCENARIOS: dict[str, tuple[str, list[Step]]] = {
    "no alpha: lose one, lose all, regain": ("", [
        # init_service_rs adds every real server with no failed checker; update_quorum_state
        # (init): 9 >= quorum 1 -> "Starting with quorum up" runs quorum_up.
        Step({}, {"10": 3, "11": 3, "12": 3}, True, ("Q up",)),
        # First results all succeed: is_up == alive and no alpha -> no script, no change.
        Step({"10": True, "11": True, "12": True}, {"10": 3, "11": 3, "12": 3}, True, ()),
        # perform_svr_state(false): DEL_DEST, notify_down; 6 >= 1 - 0 keeps the quorum.
        Step({"11": False}, {"10": 3, "12": 3}, True, ("down 11",)),
        # Weight 0 left: quorum lost; no sorry server, so only quorum_down.
        Step({"10": False, "12": False}, {}, False, ("down 10", "down 12", "Q down")),
        # perform_svr_state(true): ADD_DEST, notify_up; 3 >= 1: quorum gained.
        Step({"10": True}, {"10": 3}, True, ("up 10", "Q up")),
        Step({"11": True, "12": True}, {"10": 3, "11": 3, "12": 3}, True, ("up 11", "up 12")),
    ]),
    "alpha: start empty, first results decide": ("alpha", [
        # init_service_rs adds no server with a failed checker (alpha marks them failed);
        # update_quorum_state(init): 0 < 1 and no sorry server: neither branch, no script.
        Step({}, {}, False, ()),
        # Alpha first success: perform_svr_state(true) -> notify_up. Alpha first failure:
        # update_svr_checker_state's has_run branch notifies (down) though nothing changed.
        Step({"10": True, "11": False}, {"10": 3}, True, ("up 10", "down 11", "Q up")),
        Step({"12": True}, {"10": 3, "12": 3}, True, ("up 12",)),
    ]),
    "quorum 6, hysteresis 2, sorry server": ("quorum 6\nhysteresis 2\n" + SORRY, [
        # init: 9 >= 6 + 2.
        Step({}, {"10": 3, "11": 3, "12": 3}, True, ("Q up",)),
        # 6 is not below 6 - 2: quorum kept.
        Step({"12": False}, {"10": 3, "11": 3}, True, ("down 12",)),
        # 3 < 4: lost. perform_quorum_state(false) removes the live servers, sorry added (1).
        Step({"11": False}, {"200": 1}, False, ("down 11", "Q down")),
        # perform_svr_state: no quorum and the sorry server in -> no IPVS change; 6 < 8.
        Step({"11": True}, {"200": 1}, False, ("up 11",)),
        # 9 >= 8: gained. Sorry server deleted, perform_quorum_state(true) adds the live ones.
        Step({"12": True}, {"10": 3, "11": 3, "12": 3}, True, ("up 12", "Q up")),
        Step({"10": False, "11": False, "12": False}, {"200": 1}, False,
             ("down 10", "down 11", "down 12", "Q down")),
    ]),
    "sorry_server_inhibit and inhibit_on_failure": (
        "quorum 6\nhysteresis 2\n" + SORRY + "sorry_server_inhibit\ninhibit_on_failure", [
        # init_service_vs ends by adding an inhibited sorry server at weight 0.
        Step({}, {"10": 3, "11": 3, "12": 3, "200": 0}, True, ("Q up",)),
        # ipvs_cmd: DEL_DEST of an inhibited server is an edit to weight 0.
        Step({"12": False}, {"10": 3, "11": 3, "12": 0, "200": 0}, True, ("down 12",)),
        # Lost: the live server 10 is "removed" (weight 0), the sorry server edited to 1.
        Step({"11": False}, {"10": 0, "11": 0, "12": 0, "200": 1}, False, ("down 11", "Q down")),
        Step({"11": True}, {"10": 0, "11": 0, "12": 0, "200": 1}, False, ("up 11",)),
        # Gained: sorry server back to 0, live servers edited back to their weights.
        Step({"12": True}, {"10": 3, "11": 3, "12": 3, "200": 0}, True, ("up 12", "Q up")),
    ]),
    "alpha with a sorry server": ("alpha\n" + SORRY, [
        # update_quorum_state(init): quorum down with a sorry server not yet in -> add it,
        # "Starting with quorum down" runs quorum_down.
        Step({}, {"200": 1}, False, ("Q down",)),
        Step({"10": True}, {"10": 3}, True, ("up 10", "Q up")),
    ]),
    "alpha with inhibit_on_failure": ("alpha\ninhibit_on_failure", [
        # init_service_rs: inhibit and not yet set -> ADD_DEST at weight 0 (failed checkers).
        Step({}, {"10": 0, "11": 0, "12": 0}, False, ()),
        Step({"10": True}, {"10": 3, "11": 0, "12": 0}, True, ("up 10", "Q up")),
    ]),
    "dynamic weights without a sorry server": ("quorum 6", [
        Step({}, {"10": 3, "11": 3, "12": 3}, True, ("Q up",)),
        # misc_dynamic exit 2: alive at weight 0. update_svr_wgt edits; no real-server script.
        Step({"10": 0}, {"10": 0, "11": 3, "12": 3}, True, ()),
        # 4 < 6: quorum lost, but with no sorry server the weights still go to the kernel.
        Step({"11": 1}, {"10": 0, "11": 1, "12": 3}, False, ("Q down",)),
        Step({"10": 7}, {"10": 7, "11": 1, "12": 3}, True, ("Q up",)),
    ]),
    "dynamic weights with a sorry server": ("quorum 6\n" + SORRY, [
        Step({}, {"10": 3, "11": 3, "12": 3}, True, ("Q up",)),
        Step({"11": 1, "12": 1}, {"200": 1}, False, ("Q down",)),
        # update_svr_wgt: no IPVS edit while the sorry server stands in; 4 < 6.
        Step({"12": 0}, {"200": 1}, False, ()),
        Step({"11": 3}, {"10": 3, "11": 3, "12": 0}, True, ("Q up",)),
    ]),
    "quorum above the total weight is lowered to it": ("quorum 20\n" + SORRY, [
        # validate_check_config: quorum 20 > 9 -> 9. Unlowered, the sorry server would stay.
        Step({}, {"10": 3, "11": 3, "12": 3}, True, ("Q up",)),
        Step({"12": False}, {"200": 1}, False, ("down 12", "Q down")),
    ]),
    "hysteresis not below quorum is lowered to quorum - 1": ("quorum 3\nhysteresis 5\n" + SORRY, [
        # validate_check_config: hysteresis 5 >= 3 -> 2: gain needs 5, loss below 1.
        Step({}, {"10": 3, "11": 3, "12": 3}, True, ("Q up",)),
        Step({"10": False, "11": False}, {"12": 3}, True, ("down 10", "down 11")),
        Step({"12": False}, {"200": 1}, False, ("down 12", "Q down")),
        Step({"10": True}, {"200": 1}, False, ("up 10",)),
        # 6 >= 3 + 2 (unlowered, 3 + 5 = 8 would not be reached).
        Step({"11": True}, {"10": 3, "11": 3}, True, ("up 11", "Q up")),
    ]),
}  # fmt: skip


def rid(cfg: KeepalivedConfig, octet: str) -> RealServerId:
    (vs,) = cfg.virtual_server
    (rs,) = [rs for rs in vs.real_server if str(rs.ip).endswith(f".{octet}")]
    return real_server_id(vs, rs)


def health_of(value: bool | int) -> Health:
    if isinstance(value, bool):
        return Health(up=value)
    return Health(up=True, weight=value)


@pytest.mark.parametrize("name", SCENARIOS)
def test_transitions_match_keepalived(name: str) -> None:
    vs_extra, steps = SCENARIOS[name]
    cfg = config(vs_extra)
    health: dict[RealServerId, Health] = {}
    quorum: Mapping[str, bool] | None = None
    for number, step in enumerate(steps):
        before = dict(health)
        health.update({rid(cfg, octet): health_of(v) for octet, v in step.changes.items()})
        state = compute(cfg, health, quorum)
        (entry,) = state.table.values()
        table = {str(k.address).rsplit(".", 1)[1]: d.weight for k, d in entry.destinations.items()}
        ran = scripts(cfg, before, health, quorum, state.quorum_up)
        got = (
            table,
            state.quorum_up,
            tuple(r.script.command.removeprefix("/bin/echo ") for r in ran),
        )
        want = (dict(step.table), {"192.168.88.100:80/TCP": step.quorum}, step.scripts)
        assert got == want, f"{name}, step {number}: {step.changes}"
        quorum = state.quorum_up


def test_shutdown_runs_scripts_only_with_omega() -> None:
    """clear_service_rs / update_vs_notifies(stopping): omega -> notify_down for the live
    servers, then quorum_down whatever the quorum was; without omega, nothing."""
    cfg = config("")
    health = {rid(cfg, "11"): Health(up=False)}
    assert shutdown_scripts(cfg, health) == []
    cfg = config("omega")
    health = {rid(cfg, "11"): Health(up=False)}
    ran = [r.script.command.removeprefix("/bin/echo ") for r in shutdown_scripts(cfg, health)]
    assert ran == ["down 10", "down 12", "Q down"]


def test_script_runs_carry_the_configured_user_and_the_server() -> None:
    text = (
        "virtual_server 10.0.0.1 80 {\n quorum_up /bin/q root\n"
        ' real_server 10.0.0.2 80 { notify_down "/bin/n down" nobody nogroup\n'
        " TCP_CHECK {} }\n}\n"
    )
    result = load("test.conf", text=text)
    cfg = result.config
    assert cfg is not None
    (vs,) = cfg.virtual_server
    server = real_server_id(vs, vs.real_server[0])
    start = scripts(cfg, {}, {}, None, {vs.id: True})
    assert [(r.hook.value, r.script.command, r.script.username) for r in start] == [
        ("quorum_up", "/bin/q", "root")
    ]
    down = scripts(cfg, {}, {server: Health(up=False)}, {vs.id: True}, {vs.id: False})
    assert [(r.hook.value, r.script.command, r.script.groupname, r.real_server) for r in down] == [
        ("notify_down", "/bin/n down", "nogroup", server)
    ]


def test_all_weights_zero_never_gain_quorum() -> None:
    """validate_check_config lowers quorum to 0 and hysteresis to 0 - 1, which wraps to
    UINT_MAX as an unsigned: the gain threshold can never be reached (keepalived 2.x)."""
    text = (
        "virtual_server 10.0.0.1 80 {\n" + SORRY
        + " real_server 10.0.0.2 80 { weight 0\n TCP_CHECK {} }\n}\n"
    )  # fmt: skip
    result = load("test.conf", text=text)
    assert result.config is not None
    state = compute(result.config, {}, None)
    assert state.quorum_up == {"10.0.0.1:80/TCP": False}
    (entry,) = state.table.values()
    assert [(str(k.address), d.weight) for k, d in entry.destinations.items()] == [
        ("192.168.88.200", 1)
    ]
