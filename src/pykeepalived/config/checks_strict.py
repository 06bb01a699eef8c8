"""Strict mode checks (``vrrp_strict`` in global_defs, ``strict_mode`` on an instance).

keepalived 2.2.7 (``vrrp.c`` vrrp_complete_instance) enforces RFC 3768 / 5798 under strict mode:
unicast peers and an instance without VIPs are refused; authentication, a state that does not
follow priority 255, preempt_delay, down_timer_adverts other than 3, accept with VRRPv2,
lower-priority GARPs, answering lower-priority adverts and higher_prio_send_advert are reset
with a message. The messages are keepalived's; the resets themselves are applied by
``vrrp.from_config`` (one rule for both).
"""

from pykeepalived.config.diagnostics import Diagnostics, Location
from pykeepalived.config.model import KeepalivedConfig
from pykeepalived.config.model_vrrp import VrrpInstance

UNKNOWN = Location(file="?", line=0)


def check_strict(config: KeepalivedConfig, diags: Diagnostics) -> None:
    for inst in config.vrrp_instance:
        strict = config.global_defs.vrrp_strict if inst.strict_mode is None else inst.strict_mode
        if strict:
            version = inst.version or (3 if inst.family == 6 else config.global_defs.vrrp_version)
            _refused(inst, diags)
            _reset(inst, version, diags)


def _where(inst: VrrpInstance, keyword: str) -> Location:
    return inst.where.of(keyword) or inst.where.block or UNKNOWN


def _refused(inst: VrrpInstance, diags: Diagnostics) -> None:
    if inst.unicast_peer:
        message = f"({inst.name}) Unicast peers are not supported in strict mode"
        diags.error(_where(inst, "unicast_peer"), message, "strict")
    if not inst.virtual_ipaddress:
        message = f"({inst.name}) No VIP specified; at least one is required"
        diags.error(_where(inst, "virtual_ipaddress"), message, "strict")


def _reset(inst: VrrpInstance, version: int, diags: Diagnostics) -> None:
    given = inst.where.keywords
    owner = inst.priority == 255
    checks = [
        ("authentication", inst.authentication is not None,
         "Strict mode does not support authentication. Ignoring."),
        ("state", "state" in given and (inst.state == "MASTER") != owner,
         "State MASTER must match being address owner"),
        ("preempt_delay", inst.preempt_delay > 0,
         "preempt_delay is incompatible with strict mode - resetting"),
        ("down_timer_adverts", inst.down_timer_adverts not in (None, 3),
         "down_timer_adverts is incompatible with strict mode - resetting"),
        ("accept", inst.accept and not owner and version == 2,
         "warning - accept mode for VRRP version 2 does not comply with RFC3768 - resetting"),
        ("garp_lower_prio_repeat", bool(inst.garp_lower_prio_repeat),
         "Strict mode requires no repeat garps. resetting"),
        ("garp_lower_prio_delay", bool(inst.garp_lower_prio_delay),
         "Strict mode requires no repeat garp delay. resetting"),
        ("lower_prio_no_advert", inst.lower_prio_no_advert is False,
         "Strict mode requires no lower priority advert. resetting"),
        ("higher_prio_send_advert", inst.higher_prio_send_advert is True,
         "strict mode requires higher_prio_send_advert to be clear. resetting"),
    ]  # fmt: skip
    for keyword, hit, text in checks:
        if hit:
            diags.warning(_where(inst, keyword), f"({inst.name}) {text}", "strict")
    if inst.family == 6 and not inst.unicast_peer and inst.virtual_ipaddress:
        first = inst.virtual_ipaddress[0]
        if not first.address.ip.is_link_local:
            message = f"({inst.name}) the first IPv6 VIP address must be link local"
            diags.warning(first.location or _where(inst, "virtual_ipaddress"), message, "strict")
