"""notify_priority_changes: which instances write priority lines (keepalived's resolution:
instance, else its sync group, else global_defs) and whether the line says MASTER_PRIORITY
or BACKUP_PRIORITY (the state when the priority changed: FAULT and BACKUP say BACKUP)."""

import pytest
from test_vrrp_instance import T0, backup, master

from pykeepalived.config.loader import load
from pykeepalived.vrrp.events import PriorityChanged
from pykeepalived.vrrp.from_config import notifies_priority


def notifies(instance: str = "", group: str = "", global_defs: str = "") -> list[bool]:
    text = f"global_defs {{\n{global_defs}\n}}\n"
    text += f"vrrp_sync_group G {{\n group {{\n  VI_1\n }}\n{group}\n}}\n"
    for name, vrid in (("VI_1", 1), ("VI_2", 2)):
        text += (
            f"vrrp_instance {name} {{\n interface eth1\n virtual_router_id {vrid}\n"
            f" priority 100\n{instance}\n virtual_ipaddress {{\n  192.168.88.{vrid}/24\n }}\n}}\n"
        )
    result = load("t.conf", text=text)
    assert result.config is not None
    return [notifies_priority(i, result.config) for i in result.config.vrrp_instance]


@pytest.mark.parametrize(
    ("instance", "group", "global_defs", "want"),
    [
        ("", "", "", [False, False]),
        ("", "", "vrrp_notify_priority_changes", [True, True]),
        ("", "notify_priority_changes", "", [True, False]),  # VI_2 is in no group
        ("notify_priority_changes false", "", "vrrp_notify_priority_changes true", [False, False]),
        ("", "notify_priority_changes false", "vrrp_notify_priority_changes", [False, True]),
        ("notify_priority_changes", "notify_priority_changes false", "", [True, True]),
    ],
)
def test_instance_then_group_then_global(
    instance: str, group: str, global_defs: str, want: list[bool]
) -> None:
    assert notifies(instance, group, global_defs) == want


def test_the_change_says_whether_it_happened_as_master() -> None:
    assert master().set_priority(90, T0 + 10) == [
        PriorityChanged(
            old=100,
            new=90,
            message="(VI_1) Changing effective priority from 100 to 90",
            master=True,
        )
    ]
    (changed,) = backup().set_priority(90, T0 + 1)
    assert isinstance(changed, PriorityChanged)
    assert not changed.master
