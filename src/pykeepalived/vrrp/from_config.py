"""From the config model to what the VRRP cores take: instance parameters, receive
expectations, tracking entries.

Rules: pure; keepalived's inheritance (instance value, else global_defs value, else default) is
resolved here and nowhere else. The primary address (source of our adverts) is found at run
time by the driver and passed in.
"""

from dataclasses import dataclass
from typing import TypeVar

from pykeepalived.config.model import KeepalivedConfig
from pykeepalived.config.model_common import Tracked
from pykeepalived.config.model_global import GlobalDefs
from pykeepalived.config.model_track import VrrpTrackProcess
from pykeepalived.config.model_vrrp import VrrpInstance, VrrpScript, VrrpTrackFile
from pykeepalived.config.model_vrrp_items import GarpExtraIf
from pykeepalived.vrrp.events import IPAddress
from pykeepalived.vrrp.link_delays import Delays, clamp
from pykeepalived.vrrp.packet import AuthType, Family, pass_auth_data
from pykeepalived.vrrp.params import InstanceParams
from pykeepalived.vrrp.proc_tracking import ParamMatch, ProcessSpec
from pykeepalived.vrrp.receive import Expected
from pykeepalived.vrrp.states import State
from pykeepalived.vrrp.tracking import Kind, Track


def version_of(inst: VrrpInstance, config: KeepalivedConfig) -> int:
    """keepalived: an IPv6 instance is VRRPv3 whatever vrrp_version says."""
    if inst.version is not None:
        return inst.version
    if inst.family == 6:
        return 3
    return config.global_defs.vrrp_version


T = TypeVar("T")
GARP_DELAY, GARP_REPEAT = 5, 5  # keepalived's VRRP_GARP_DELAY / VRRP_GARP_REP


def _pick(value: T | None, default: T) -> T:
    return default if value is None else value


def strict_of(inst: VrrpInstance, config: KeepalivedConfig) -> bool:
    """``strict_mode`` on the instance, else global_defs' ``vrrp_strict``."""
    return _pick(inst.strict_mode, config.global_defs.vrrp_strict)


def drops_vip_traffic(inst: VrrpInstance, config: KeepalivedConfig) -> bool:
    """keepalived's accept mode, negated: while MASTER, traffic to and from the VIPs is dropped
    (``no_accept``; or strict mode without ``accept``, and strict VRRPv2 even with it, as
    RFC 3768 has no Accept_Mode). The address owner (priority 255) always accepts."""
    if inst.priority == 255:
        return False
    strict = strict_of(inst, config)
    accept = inst.accept_mode(strict)
    if accept and strict and version_of(inst, config) == 2:
        accept = False  # keepalived: "accept mode for VRRP version 2 does not comply ..."
    return not accept


def instance_params(
    inst: VrrpInstance, config: KeepalivedConfig, primary_ip: IPAddress
) -> InstanceParams:
    g = config.global_defs
    assert inst.virtual_router_id is not None  # the config checks refuse a missing VRID
    strict = strict_of(inst, config)
    # Strict mode: the initial state follows priority 255, no preempt_delay, 3 adverts
    # (keepalived resets each with a warning; config.checks_strict words them).
    explicit_state = "state" in inst.where.keywords and not strict
    garp = _global_garp(g)
    master_delay = _pick(inst.garp_master_delay, garp.master_delay)
    down_adverts = _pick(inst.down_timer_adverts, g.vrrp_down_timer_adverts)
    extra = garp_extra_if(inst, config)
    return InstanceParams(
        name=inst.name,
        virtual_router_id=inst.virtual_router_id,
        priority=inst.priority,
        advert_int_s=inst.advert_int,
        version=version_of(inst, config),
        state=State[inst.state] if explicit_state else None,
        nopreempt=inst.nopreempt,
        preempt_delay_s=0.0 if strict else inst.preempt_delay,
        primary_ip=primary_ip,
        down_timer_adverts=3 if strict else down_adverts,
        # Strict mode (RFC adherence) forces both, whatever the config says.
        lower_prio_no_advert=strict
        or _pick(inst.lower_prio_no_advert, g.vrrp_lower_prio_no_advert),
        higher_prio_send_advert=not strict
        and _pick(inst.higher_prio_send_advert, g.vrrp_higher_prio_send_advert),
        garp_master_delay_s=float(master_delay),
        garp_master_repeat=_pick(inst.garp_master_repeat, garp.master_repeat),
        garp_master_refresh_s=float(_pick(inst.garp_master_refresh, garp.master_refresh)),
        garp_master_refresh_repeat=_pick(
            inst.garp_master_refresh_repeat, garp.master_refresh_repeat
        ),
        # Unset: global_defs' lower-priority values, which default to global_defs' *master*
        # ones (not this instance's); strict mode sends none (keepalived 2.2.7's dump shows it).
        garp_lower_prio_repeat=0
        if strict
        else _pick(
            inst.garp_lower_prio_repeat,
            _pick(g.vrrp_garp_lower_prio_repeat, garp.master_repeat),
        ),
        garp_lower_prio_delay_s=0.0
        if strict
        else float(
            _pick(
                inst.garp_lower_prio_delay,
                _pick(g.vrrp_garp_lower_prio_delay, garp.master_delay),
            )
        ),
        startup_delay_s=g.vrrp_startup_delay,
        garp_extra_if_s=float(extra.interval_s) if extra is not None else 0.0,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class GlobalGarp:
    master_delay: int
    master_repeat: int
    master_refresh: int
    master_refresh_repeat: int


def _global_garp(g: GlobalDefs) -> GlobalGarp:
    """global_defs' gratuitous ARP/NA values, ``vrrp_min_garp`` applied: one message at
    takeover and no second block 5 s later. keepalived sets each of the four that still has
    its default when the keyword is read; we set those that have it in the end (the same
    unless a default value is written out after ``vrrp_min_garp``)."""
    if not g.vrrp_min_garp:
        return GlobalGarp(
            master_delay=g.vrrp_garp_master_delay,
            master_repeat=g.vrrp_garp_master_repeat,
            master_refresh=g.vrrp_garp_master_refresh,
            master_refresh_repeat=g.vrrp_garp_master_refresh_repeat,
        )
    return GlobalGarp(
        master_delay=0 if g.vrrp_garp_master_delay == GARP_DELAY else g.vrrp_garp_master_delay,
        master_repeat=1 if g.vrrp_garp_master_repeat == GARP_REPEAT else g.vrrp_garp_master_repeat,
        master_refresh=g.vrrp_garp_master_refresh,  # its default, 0, is min_garp's value too
        # keepalived also zeroes the refresh repeat, which only matters with a refresh set in
        # the config, where it would then send nothing: we keep sending one
        master_refresh_repeat=g.vrrp_garp_master_refresh_repeat,
    )


def expected(inst: VrrpInstance, config: KeepalivedConfig) -> Expected:
    version = version_of(inst, config)
    family = Family.IPV6 if inst.family == 6 else Family.IPV4
    auth_type, auth_data = AuthType.NONE, b""
    auth = inst.authentication
    strict = strict_of(inst, config)  # keepalived: "Strict mode does not support authentication"
    if version == 2 and auth is not None and auth.auth_type == "PASS" and not strict:
        auth_type = AuthType.PASS
        auth_data = pass_auth_data(auth.auth_pass or "")
    skip = inst.skip_check_adv_addr
    if skip is None:
        skip = config.global_defs.vrrp_skip_check_adv_addr
    return Expected(
        family=family,
        version=version,
        vrids=frozenset({inst.virtual_router_id or 0}),
        advert_int_cs=round(inst.advert_int * 100),
        auth_type=auth_type,
        auth_data=auth_data,
        addresses=None if skip else tuple(v.address.ip for v in inst.virtual_ipaddress),
        unicast=bool(inst.unicast_peer),
        v3_checksum_as_v2=config.global_defs.v3_checksum_as_v2,
    )


def tracks(inst: VrrpInstance, config: KeepalivedConfig, *, in_sync_group: bool) -> list[Track]:
    """The instance's trackers with keepalived's weights.

    A track_script line without a weight takes the vrrp_script's; sync-group members track
    with weight 0 (faults only) unless ``sync_group_tracking_weight`` is set on the group.
    """
    keep_weights = not in_sync_group or _group_keeps_weights(inst, config)
    scripts = {s.name: s for s in config.vrrp_script}
    files = {f.name: f for f in config.vrrp_track_file}
    out: list[Track] = []
    for t in inst.track_script:
        script = scripts.get(t.name)
        default = (script.weight, script.weight_reverse) if script else (0, False)
        out.append(_track(Kind.SCRIPT, t, default, keep_weights))
    for t in inst.track_interface:
        out.append(_track(Kind.INTERFACE, t, (0, False), keep_weights))
    for t in inst.track_file:
        tracked_file = files.get(t.name)
        default = (1, False)
        if tracked_file is not None:
            default = (tracked_file.weight, tracked_file.weight_reverse)
        out.append(_track(Kind.FILE, t, default, keep_weights))
    processes = {p.name: p for p in config.vrrp_track_process}
    for t in inst.track_process:
        tracked_process = processes.get(t.name)
        default = (0, False)
        if tracked_process is not None:
            default = (tracked_process.weight, tracked_process.weight_reverse)
        out.append(_track(Kind.PROCESS, t, default, keep_weights))
    out += _group_tracks(inst, config, {(t.kind, t.name) for t in out})
    own = inst.interface
    seen = {t.name for t in out if t.kind is Kind.INTERFACE}
    if own and not inst.dont_track_primary and own not in seen:
        out.append(Track(kind=Kind.INTERFACE, name=own))
    return out


def _group_tracks(
    inst: VrrpInstance, config: KeepalivedConfig, seen: set[tuple[Kind, str]]
) -> list[Track]:
    """A sync group's own track_* lines apply to every member, for faults only (weight 0)."""
    out: list[Track] = []
    for group in config.vrrp_sync_group:
        if inst.name not in {m.name for m in group.group}:
            continue
        lines = (
            [(Kind.SCRIPT, t) for t in group.track_script]
            + [(Kind.INTERFACE, t) for t in group.track_interface]
            + [(Kind.FILE, t) for t in group.track_file]
            + [(Kind.PROCESS, t) for t in group.track_process]
        )
        for kind, t in lines:
            if (kind, t.name) not in seen:
                seen.add((kind, t.name))
                out.append(Track(kind=kind, name=t.name, reverse=t.reverse))
    return out


def used_scripts(config: KeepalivedConfig) -> list[VrrpScript]:
    """The vrrp_scripts some instance or sync group tracks (keepalived runs only those)."""
    names = {t.name for i in config.vrrp_instance for t in i.track_script}
    names |= {t.name for g in config.vrrp_sync_group for t in g.track_script}
    return [s for s in config.vrrp_script if s.name in names and s.script]


def used_files(config: KeepalivedConfig) -> list[VrrpTrackFile]:
    names = {t.name for i in config.vrrp_instance for t in i.track_file}
    names |= {t.name for g in config.vrrp_sync_group for t in g.track_file}
    return [f for f in config.vrrp_track_file if f.name in names and f.file]


def used_processes(config: KeepalivedConfig) -> list[ProcessSpec]:
    """The vrrp_track_processes some instance or sync group tracks, resolved for the core."""
    names = {t.name for i in config.vrrp_instance for t in i.track_process}
    names |= {t.name for g in config.vrrp_sync_group for t in g.track_process}
    return [process_spec(p) for p in config.vrrp_track_process if p.name in names and p.process]


def process_polling(config: KeepalivedConfig) -> bool:
    """global_defs ``vrrp_track_process_use_polling`` (ours: keepalived has no polling) is
    kept as a loose keyword; given, /proc is polled even where process events work."""
    return any(name == "vrrp_track_process_use_polling" for name, _ in config.global_defs.other)


def process_spec(p: VrrpTrackProcess) -> ProcessSpec:
    """keepalived's reading of a vrrp_track_process (``vrrp_parser.c``): parameters or
    ``param_match`` imply matching the command line, exact unless said otherwise; ``quorum_max
    0`` sets the quorum to 0 (up only while no such process runs)."""
    path, params = p.process[0], p.process[1:]
    how = ParamMatch(p.param_match) if p.param_match else ParamMatch.NONE
    if params and how is ParamMatch.NONE:
        how = ParamMatch.EXACT
    return ProcessSpec(
        name=p.name,
        path=path,
        params=params,
        param_match=how,
        full_command=p.full_command,
        quorum=0 if p.quorum_max == 0 else p.quorum,
        quorum_max=p.quorum_max,
        fork_delay_s=p.fork_delay,
        terminate_delay_s=p.terminate_delay,
    )


def _track(kind: Kind, t: Tracked, default: tuple[int, bool], keep: bool) -> Track:
    weight = default[0] if t.weight is None else t.weight
    reverse = t.reverse or (t.weight is None and default[1])
    if kind is Kind.FILE and not keep:
        weight = 0
    return Track(kind=kind, name=t.name, weight=weight if keep else 0, reverse=reverse)


def _group_keeps_weights(inst: VrrpInstance, config: KeepalivedConfig) -> bool:
    for group in config.vrrp_sync_group:
        if inst.name in {m.name for m in group.group}:
            return group.sync_group_tracking_weight
    return True


def link_delays(config: KeepalivedConfig) -> dict[str, Delays]:
    """interface_up_down_delays, cut for each instance on the interface (``link_delays.clamp``;
    strict mode keeps down_timer_adverts at 3)."""
    out = {d.name: Delays(d.down_delay_s, d.up_delay_s) for d in config.interface_up_down_delays}
    for inst in config.vrrp_instance:
        if inst.interface in out:
            down_adverts = _pick(
                inst.down_timer_adverts, config.global_defs.vrrp_down_timer_adverts
            )
            if strict_of(inst, config):
                down_adverts = 3
            out[inst.interface] = clamp(out[inst.interface], inst.advert_int, down_adverts)
    return out


def notifies_priority(inst: VrrpInstance, config: KeepalivedConfig) -> bool:
    """``notify_priority_changes`` as keepalived resolves it: the instance's if written, else
    its sync group's if written there, else global_defs' ``vrrp_notify_priority_changes``."""
    if "notify_priority_changes" in inst.where.keywords:
        return inst.notify_priority_changes
    for group in config.vrrp_sync_group:
        member = inst.name in {m.name for m in group.group}
        if member and "notify_priority_changes" in group.where.keywords:
            return group.notify_priority_changes
    return config.global_defs.vrrp_notify_priority_changes


def garp_extra_if(inst: VrrpInstance, config: KeepalivedConfig) -> GarpExtraIf | None:
    """The instance's ``garp_extra_if`` (with its own ``all``), else global_defs'
    ``vrrp_garp_extra_if``; None or interval 0: off (keepalived ``vrrp_complete_instance``)."""
    extra = inst.garp_extra_if or config.global_defs.vrrp_garp_extra_if
    return extra if extra is not None and extra.interval_s else None
