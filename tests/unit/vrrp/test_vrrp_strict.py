"""Accept mode and strict mode, from the config to what the VRRP side does (pure).

keepalived 2.2.7 (``vrrp.c``, ``vrrp_complete_instance``): accept mode defaults on, off under
strict mode unless ``accept``; ``no_accept`` clears it; the address owner always accepts;
strict VRRPv2 refuses ``accept``. Strict mode also resets the initial state to follow priority
255, preempt_delay to 0, down_timer_adverts to 3, and drops authentication.
"""

from ipaddress import IPv4Address

import pytest

from pykeepalived.config.loader import load
from pykeepalived.config.model import KeepalivedConfig
from pykeepalived.vrrp.from_config import drops_vip_traffic, expected, instance_params
from pykeepalived.vrrp.packet import AuthType
from pykeepalived.vrrp.states import State


def conf(instance_lines: str, global_lines: str = "") -> KeepalivedConfig:
    text = (
        f"global_defs {{\n{global_lines}\n}}\n"
        "vrrp_instance VI {\n    interface eth1\n    virtual_router_id 18\n"
        f"{instance_lines}\n"
        "    virtual_ipaddress {\n        192.168.88.100/24\n    }\n}\n"
    )
    result = load("test.conf", text=text)
    assert result.config is not None
    return result.config


@pytest.mark.parametrize(
    ("lines", "global_lines", "drops"),
    [
        ("priority 100", "", False),  # accept mode is keepalived's default
        ("priority 100\nno_accept", "", True),
        ("priority 255\nno_accept", "", False),  # the owner always accepts
        ("priority 100", "vrrp_strict", True),
        ("priority 100\nstrict_mode", "", True),
        ("priority 100\nversion 3\naccept", "vrrp_strict", False),
        ("priority 100\nversion 2\naccept", "vrrp_strict", True),  # RFC 3768: no Accept_Mode
        ("priority 255", "vrrp_strict", False),
        ("priority 100\nstrict_mode off", "vrrp_strict", False),
    ],
)
def test_drops_vip_traffic(lines: str, global_lines: str, drops: bool) -> None:
    config = conf(lines, global_lines)
    assert drops_vip_traffic(config.vrrp_instance[0], config) is drops


def test_strict_mode_resets_what_keepalived_resets() -> None:
    lines = (
        "state MASTER\npriority 100\nversion 2\nadvert_int 1\npreempt_delay 5\n"
        "down_timer_adverts 5\nauthentication {\n    auth_type PASS\n    auth_pass secret\n}"
    )
    config = conf(lines, "vrrp_strict")
    inst = config.vrrp_instance[0]
    params = instance_params(inst, config, IPv4Address("192.168.88.8"))
    assert params.initial_state is State.BACKUP  # "State MASTER must match being address owner"
    assert params.preempt_delay_s == 0
    assert params.down_timer_adverts == 3
    assert params.lower_prio_no_advert
    assert not params.higher_prio_send_advert
    assert expected(inst, config).auth_type is AuthType.NONE  # no authentication
    loose = conf(lines)
    loose_params = instance_params(loose.vrrp_instance[0], loose, IPv4Address("192.168.88.8"))
    assert loose_params.initial_state is State.MASTER
    assert loose_params.down_timer_adverts == 5
    assert expected(loose.vrrp_instance[0], loose).auth_type is AuthType.PASS


def test_strict_diagnostics_are_keepalived_s() -> None:
    lines = (
        "state MASTER\npriority 100\nversion 2\nadvert_int 1\npreempt_delay 5\naccept\n"
        "garp_lower_prio_repeat 2\nauthentication {\n    auth_type PASS\n    auth_pass secret\n}\n"
        "unicast_src_ip 192.168.88.8\nunicast_peer {\n    192.168.88.9\n}"
    )
    text = (
        "global_defs {\n    vrrp_strict\n}\n"
        "vrrp_instance VI {\n    interface eth1\n    virtual_router_id 18\n"
        f"{lines}\n    virtual_ipaddress {{\n        192.168.88.100/24\n    }}\n}}\n"
    )
    result = load("test.conf", text=text)
    errors = [d.message for d in result.diagnostics if d.is_error]
    warnings = [d.message for d in result.diagnostics if not d.is_error]
    assert errors == ["(VI) Unicast peers are not supported in strict mode"]
    for expected_text in (
        "(VI) Strict mode does not support authentication. Ignoring.",
        "(VI) State MASTER must match being address owner",
        "(VI) preempt_delay is incompatible with strict mode - resetting",
        "(VI) warning - accept mode for VRRP version 2 does not comply with RFC3768 - resetting",
        "(VI) Strict mode requires no repeat garps. resetting",
    ):
        assert expected_text in warnings
    assert not [d for d in load("t.conf", text=text.replace("vrrp_strict", "")).diagnostics
                if "strict" in d.message.lower()]  # fmt: skip
