"""Semantic checks of the VRRP side (see ``checks`` for the rules)."""

from collections.abc import Mapping

from pykeepalived.config.diagnostics import Diagnostics, Location
from pykeepalived.config.model import KeepalivedConfig
from pykeepalived.config.model_common import Tracked
from pykeepalived.config.model_vrrp import VrrpInstance

UNKNOWN = Location(file="?", line=0)
COMM_MAX = 15  # the kernel's TASK_COMM_LEN - 1: /proc/PID/comm is never longer


def check_vrrp(config: KeepalivedConfig, diags: Diagnostics) -> None:
    _unique_names(config, diags)
    scripts = {s.name: s for s in config.vrrp_script}
    files = {f.name: f for f in config.vrrp_track_file}
    processes = {p.name: p for p in config.vrrp_track_process}
    for inst in config.vrrp_instance:
        # keepalived (vrrp.c, vrrp_complete_instance): an IPv6 instance without its own
        # 'version' runs VRRPv3 whatever global_defs' vrrp_version says.
        version = inst.version or (3 if inst.family == 6 else config.global_defs.vrrp_version)
        _required(inst, diags)
        _advert_int(inst, version, diags)
        _families(inst, version, diags)
        _mcast_dst(inst, diags)
        _authentication(inst, version, diags)
        _references(inst.track_script, scripts, "vrrp_script", diags)
        _references(inst.track_file, files, "vrrp_track_file", diags)
        _references(inst.track_process, processes, "vrrp_track_process", diags)
        _priority(inst, diags)
        _vmac(inst, config.global_defs.vrrp_strict, diags)
    for group in config.vrrp_sync_group:
        _references(group.track_process, processes, "vrrp_track_process", diags)
    _track_processes(config, diags)
    _duplicate_vrids(config, diags)
    _vmac_names(config, diags)
    _sync_groups(config, diags)


def _at(where: Location | None) -> Location:
    return where or UNKNOWN


def _unique_names(config: KeepalivedConfig, diags: Diagnostics) -> None:
    for kind, items in (
        ("vrrp_instance", config.vrrp_instance),
        ("vrrp_script", config.vrrp_script),
        ("vrrp_sync_group", config.vrrp_sync_group),
        ("vrrp_track_file", config.vrrp_track_file),
        ("vrrp_track_process", config.vrrp_track_process),
    ):
        seen: dict[str, Location] = {}
        for item in items:
            where = _at(item.where.of("name"))
            if item.name in seen:
                message = (
                    f"{kind} '{item.name}' defined twice (first at line {seen[item.name].line})"
                )
                diags.error(where, message, "duplicate")
            seen.setdefault(item.name, where)


def _required(inst: VrrpInstance, diags: Diagnostics) -> None:
    where = _at(inst.where.block)
    given = inst.where.keywords  # given counts even with a bad value, already reported
    if inst.virtual_router_id is None and "virtual_router_id" not in given:
        diags.error(where, f"({inst.name}) virtual_router_id is required", "missing")
    if inst.interface is None and not inst.unicast_peer and "interface" not in given:
        message = f"({inst.name}) interface is required unless unicast_peer is set"
        diags.error(where, message, "missing")
    if not inst.virtual_ipaddress and "virtual_ipaddress" not in given:
        diags.warning(where, f"({inst.name}) has no virtual_ipaddress", "missing")
    if "interface" not in given and inst.unicast_peer:
        _unicast_without_interface(inst, diags)


def _unicast_without_interface(inst: VrrpInstance, diags: Diagnostics) -> None:
    """keepalived's vrrp_complete_instance(): with no interface, the source address must be
    given, and for IPv6 must not be link-local (nothing would say which link)."""
    src = inst.unicast_src_ip
    if src is None and "unicast_src_ip" not in inst.where.keywords:
        message = f"({inst.name}) a unicast instance needs unicast_src_ip or interface"
        diags.error(_at(inst.where.of("unicast_peer")), message, "missing")
    elif src is not None and src.version == 6 and src.is_link_local:
        message = f"({inst.name}) unicast_src_ip {src} is link-local: it needs an interface"
        diags.error(_at(inst.where.of("unicast_src_ip")), message, "missing")


def _advert_int(inst: VrrpInstance, version: int, diags: Diagnostics) -> None:
    where = _at(inst.where.of("advert_int"))
    value = inst.advert_int
    if version == 2 and (value < 1 or value != int(value)):
        message = f"({inst.name}) advert_int {value:g} is invalid for VRRPv2 (whole seconds >= 1)"
        diags.error(where, message, "range")
    if version == 3 and not 0.01 <= value <= 40.95:
        message = f"({inst.name}) advert_int {value:g} is out of range for VRRPv3 (0.01-40.95 s)"
        diags.error(where, message, "range")


def _families(inst: VrrpInstance, version: int, diags: Diagnostics) -> None:
    family = inst.family
    for vip in inst.virtual_ipaddress:
        if family is not None and vip.address.version != family:
            message = f"({inst.name}) VIP {vip.address} is IPv{vip.address.version}, "
            message += f"the instance is IPv{family}; use virtual_ipaddress_excluded"
            diags.error(_at(vip.location), message, "family")
    if family == 6 and version == 2:
        message = f"({inst.name}) IPv6 needs VRRP version 3 (set 'version 3')"
        first_vip = inst.virtual_ipaddress[0].location
        where = inst.where.keywords.get("version", first_vip)
        diags.error(_at(where), message, "family")
    src = inst.unicast_src_ip
    for peer in inst.unicast_peer:
        if src is not None and peer.address.version != src.version:
            message = f"({inst.name}) unicast_peer {peer.address} and unicast_src_ip {src} differ"
            diags.error(_at(peer.location), message + " in address family", "family")
        elif family is not None and peer.address.version != family:
            message = f"({inst.name}) unicast_peer {peer.address} is not IPv{family} like the VIPs"
            diags.error(_at(peer.location), message, "family")


def _authentication(inst: VrrpInstance, version: int, diags: Diagnostics) -> None:
    auth = inst.authentication
    if auth is None:
        return
    where = _at(auth.where.block)
    if version == 3:
        message = f"({inst.name}) authentication is not supported by VRRPv3; it is ignored"
        diags.warning(where, message, "auth")
        return
    if auth.auth_type == "PASS" and not auth.auth_pass:
        diags.error(where, f"({inst.name}) auth_type PASS needs auth_pass", "missing")
    if auth.auth_pass and len(auth.auth_pass) > 8:
        message = f"({inst.name}) auth_pass is longer than 8 characters; only 8 are used"
        diags.warning(_at(auth.where.of("auth_pass")), message, "auth")


def _references(
    items: tuple[Tracked, ...], known: Mapping[str, object], kind: str, diags: Diagnostics
) -> None:
    for item in items:
        if item.name not in known:
            diags.error(_at(item.location), f"{kind} '{item.name}' is not defined", "reference")


def _track_processes(config: KeepalivedConfig, diags: Diagnostics) -> None:
    """keepalived drops a vrrp_track_process without ``process`` and ignores a quorum it
    cannot meet (order-dependent); we refuse both so the tracker never silently changes."""
    for p in config.vrrp_track_process:
        if not p.process:
            message = f"track process '{p.name}' process name not specified"
            diags.error(_at(p.where.block), message, "missing")
        name = p.process[0] if p.process else ""
        by_name = not (p.full_command or p.param_match or len(p.process) > 1)
        if by_name and len(name) > COMM_MAX:
            message = f"track process '{p.name}': '{name}' is longer than a process name can be"
            message += f" ({COMM_MAX} characters): it never matches; use full_command"
            diags.warning(_at(p.where.of("process")), message, "range")
        qmax = p.quorum_max
        if qmax is not None and (qmax or p.quorum > 1) and p.quorum > qmax:
            message = f"track process '{p.name}': quorum {p.quorum} is greater than quorum_max"
            diags.error(_at(p.where.of("quorum")), f"{message} {qmax}", "range")


def _priority(inst: VrrpInstance, diags: Diagnostics) -> None:
    if inst.priority == 255 and inst.state == "BACKUP" and "state" in inst.where.keywords:
        message = f"({inst.name}) priority 255 is the address owner: state BACKUP is overridden"
        diags.warning(_at(inst.where.of("priority")), message, "priority")


def _mcast_dst(inst: VrrpInstance, diags: Diagnostics) -> None:
    """keepalived's vrrp_mcast_dstip_handler / vrrp_complete_instance: the group must be of
    the instance's family, and unicast ignores it; one that is no multicast address at all
    cannot be joined (keepalived runs on deaf), an error here."""
    group = inst.mcast_dst_ip
    if group is None:
        return
    where = _at(inst.where.of("mcast_dst_ip"))
    if inst.unicast_peer:
        message = f"({inst.name}) multicast destination specified with unicast - ignoring"
        diags.warning(where, message, "unicast")
    elif not group.is_multicast:
        diags.error(where, f"({inst.name}) mcast_dst_ip {group} is not a multicast address",
                    "family")  # fmt: skip
    elif inst.family is not None and group.version != inst.family:
        message = f"({inst.name}) mcast dest address {group} MUST match VRRP instance family"
        diags.error(where, message, "family")


def _duplicate_vrids(config: KeepalivedConfig, diags: Diagnostics) -> None:
    """keepalived's: one VRID per interface and family, unless their groups differ
    (``mcast_dst_ip``; unicast instances are not told apart here)."""
    seen: dict[tuple[object, ...], VrrpInstance] = {}
    g = config.global_defs
    for inst in config.vrrp_instance:
        if inst.virtual_router_id is None:
            continue
        default = g.vrrp_mcast_group6 if inst.family == 6 else g.vrrp_mcast_group4
        group = None if inst.unicast_peer else (inst.mcast_dst_ip or default)
        key = (inst.interface, inst.family or 4, inst.virtual_router_id, group)
        first = seen.setdefault(key, inst)
        if first is not inst:
            message = (
                f"({inst.name}) virtual_router_id {inst.virtual_router_id} is already used on "
                f"{inst.interface} by {first.name}"
            )
            diags.error(_at(inst.where.of("virtual_router_id")), message, "duplicate")


def _sync_groups(config: KeepalivedConfig, diags: Diagnostics) -> None:
    names = {inst.name for inst in config.vrrp_instance}
    member_of: dict[str, str] = {}
    for group in config.vrrp_sync_group:
        for member in group.group:
            where = _at(member.location)
            if member.name not in names:
                message = f"sync group {group.name}: vrrp_instance '{member.name}' is not defined"
                diags.error(where, message, "reference")
            elif member.name in member_of:
                message = (
                    f"vrrp_instance '{member.name}' is already in sync group "
                    f"{member_of[member.name]}"
                )
                diags.error(where, message, "duplicate")
            member_of.setdefault(member.name, group.name)
        if len(group.group) == 1:
            message = f"sync group {group.name} has only one member"
            diags.warning(_at(group.where.of("group")), message, "sync")


def _vmac(inst: VrrpInstance, global_strict: bool, diags: Diagnostics) -> None:
    """keepalived's adjustments of use_vmac / vmac_xmit_base (vrrp_parser.c vrrp_end_handler,
    vrrp.c vrrp_complete_instance), applied by ``vrrp.node_extras``."""
    name, strict = inst.name, global_strict if inst.strict_mode is None else inst.strict_mode
    if inst.vmac_xmit_base and inst.use_vmac is None:
        message = f"({name}) vmac_xmit_base is only valid with a vmac"
        diags.warning(_at(inst.where.of("vmac_xmit_base")), message, "vmac")
    if inst.use_vmac is None:
        return
    where = _at(inst.where.of("use_vmac"))
    if inst.unicast_peer and not inst.interface:
        message = f"({name}) Cannot use VMAC with unicast and no interface - clearing use_vmac"
        diags.warning(where, message, "vmac")
    elif inst.unicast_peer and not inst.vmac_xmit_base and not strict:
        message = f"({name}) unicast with use_vmac requires vmac_xmit_base - setting"
        diags.warning(where, message, "vmac")
    if strict and inst.vmac_xmit_base:
        message = f"({name}) xmit_base is incompatible with strict mode - resetting"
        diags.warning(_at(inst.where.of("vmac_xmit_base")), message, "vmac")
    if inst.promote_secondaries:
        message = f"({name}) promote_secondaries is automatically set for vmacs - ignoring"
        diags.warning(_at(inst.where.of("promote_secondaries")), message, "vmac")


def _vmac_names(config: KeepalivedConfig, diags: Diagnostics) -> None:
    """Two instances may not name the same VMAC (keepalived ignores the second name and
    makes one up)."""
    seen: dict[str, str] = {}
    for inst in config.vrrp_instance:
        ifname = inst.use_vmac.ifname if inst.use_vmac is not None else None
        if ifname is None:
            continue
        if ifname in seen:
            message = (f"({inst.name}) VRRP instance {seen[ifname]} is already using {ifname}"
                       " - ignoring name")  # fmt: skip
            diags.warning(_at(inst.where.of("use_vmac")), message, "duplicate")
        seen.setdefault(ifname, inst.name)
