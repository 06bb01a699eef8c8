"""Which instances a reload keeps in their state (``daemon.vrrp_reload``), sync groups included:
pure, from two configs and the running states."""

from pykeepalived.config.loader import load
from pykeepalived.config.model import KeepalivedConfig
from pykeepalived.daemon.vrrp_reload import identity, kept_instances
from pykeepalived.vrrp.states import State

M, B, F = State.MASTER, State.BACKUP, State.FAULT


def conf(groups: dict[str, list[str]], *solo: str, vrid_of_2: int = 52) -> KeepalivedConfig:
    names = sorted({n for members in groups.values() for n in members} | set(solo))
    vrids = {"VI_1": 51, "VI_2": vrid_of_2, "VI_3": 53}
    text = "".join(
        f"vrrp_instance {n} {{\n interface eth0\n virtual_router_id {vrids[n]}\n"
        f" virtual_ipaddress {{\n  10.0.0.{vrids[n]}/24\n }}\n}}\n"
        for n in names
    )
    for g, members in groups.items():
        text += f"vrrp_sync_group {g} {{\n group {{\n" + "".join(f"  {m}\n" for m in members)
        text += " }\n}\n"
    result = load("t.conf", text=text, environment=None)
    assert result.ok, [d.render() for d in result.diagnostics]
    assert result.config is not None
    return result.config


def kept(old: KeepalivedConfig, new: KeepalivedConfig, **live: State) -> dict[str, State]:
    return kept_instances(old, new, live, identity)


def test_group_members_are_kept_with_a_member_added_or_removed() -> None:
    old = conf({"G": ["VI_1", "VI_2"]})
    assert kept(old, conf({"G": ["VI_1", "VI_2", "VI_3"]}), VI_1=M, VI_2=M) == {
        "VI_1": M, "VI_2": M
    }  # fmt: skip
    assert kept(old, conf({"G": ["VI_1"]}), VI_1=B, VI_2=B) == {"VI_1": B}
    assert kept(old, conf({"G": ["VI_1"]}, "VI_2"), VI_1=B, VI_2=B) == {"VI_1": B, "VI_2": B}


def test_a_group_whose_kept_members_disagree_starts_afresh() -> None:
    old = conf({"G": ["VI_1"]}, "VI_2")
    new = conf({"G": ["VI_1", "VI_2"]})
    assert kept(old, new, VI_1=B, VI_2=M) == {}
    assert kept(old, new, VI_1=M, VI_2=M) == {"VI_1": M, "VI_2": M}


def test_faulty_or_re_identified_members_are_not_kept() -> None:
    old = conf({"G": ["VI_1", "VI_2"]})
    assert kept(old, old, VI_1=F, VI_2=F) == {}
    assert kept(old, conf({"G": ["VI_1", "VI_2"]}, vrid_of_2=60), VI_1=M, VI_2=M) == {"VI_1": M}
