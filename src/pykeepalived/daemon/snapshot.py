"""Building the readers' snapshot from the daemon's live parts.

Rules: L4, read-only over live objects, called on the event loop (no locking needed: asyncio
runs one thing at a time). VRRP transitions are collected from keepalived-worded log lines
(``(VI_1) Entering MASTER STATE``) by ``TransitionRecorder``, so the daemon needs no hook into
the VRRP driver and the API shows exactly what the log says.
"""

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from pykeepalived import __version__
from pykeepalived.config.model import KeepalivedConfig
from pykeepalived.daemon.transitions import TransitionRecorder
from pykeepalived.lvs.desired import RealServerId
from pykeepalived.lvs.table import Counters, DestKey, ServiceKey
from pykeepalived.state import (
    DaemonSnapshot,
    EventLog,
    InstanceView,
    ProbeView,
    RealServerView,
    SyncGroupView,
    VirtualServerView,
)
from pykeepalived.vrrp.events import InstanceSnapshot
from pykeepalived.vrrp.from_config import version_of
from pykeepalived.vrrp.node_actions import InstanceStats

if TYPE_CHECKING:  # the LVS half's modules load after VRRP's start (daemon._start_lvs)
    from pykeepalived.check.from_config import RealServerKey
    from pykeepalived.daemon.lvs_side import LvsSide


def _counters(c: Counters | None) -> Counters:
    return Counters() if c is None else c


def _vrrp_extras(snap: InstanceSnapshot | None, stats: InstanceStats | None,
                 to_wall: Callable[[float], float]) -> dict[str, Any]:  # fmt: skip
    """Counters and the mastership hold of one instance, as ``InstanceView`` fields."""
    out: dict[str, Any] = {}
    if stats is not None:
        out.update(
            adverts_sent=stats.adverts_sent,
            adverts_received=stats.adverts_received,
            priority_zero_sent=stats.priority_zero_sent,
            priority_zero_received=stats.priority_zero_received,
            vips_restored=stats.vips_restored,
            packet_errors=tuple(sorted(stats.errors.items())),
            state_changes=tuple((o, n, c) for (o, n), c in sorted(stats.transitions.items())),
        )
    if snap is not None and snap.holds:
        hold = snap.holds[0]
        out.update(
            held=True,
            held_by=hold.holder,
            held_reason=hold.reason,
            held_since=to_wall(hold.since),
            held_until=to_wall(hold.until) if hold.until is not None else None,
        )
    return out


def instances(
    config: KeepalivedConfig,
    live: Iterable[InstanceSnapshot],
    recorder: TransitionRecorder,
    stats: Mapping[str, InstanceStats] | None = None,
    to_wall: Callable[[float], float] = lambda t: t,
) -> tuple[InstanceView, ...]:
    """``to_wall`` turns the VRRP clock's times (holds) into Unix time."""
    by_name = {s.name: s for s in live}
    group_of = {m.name: g.name for g in config.vrrp_sync_group for m in g.group}
    stats = stats or {}
    out = []
    for inst in config.vrrp_instance:
        snap = by_name.get(inst.name)
        extras = _vrrp_extras(snap, stats.get(inst.name), to_wall)
        view = InstanceView(
            name=inst.name,
            interface=inst.interface or "",
            virtual_router_id=inst.virtual_router_id or 0,
            version=version_of(inst, config),
            state=snap.state.name if snap else "INIT",
            priority=inst.priority,
            effective_priority=snap.effective_priority if snap else inst.priority,
            master_ip=str(snap.master_ip) if snap and snap.master_ip else None,
            advert_int_s=snap.master_adver_int_s if snap else inst.advert_int,
            vips=tuple(str(v.address) for v in inst.virtual_ipaddress),
            sync_group=group_of.get(inst.name),
            faults=tuple(f"{who}: {why}" for who, why in snap.faults) if snap else (),
            transitions=tuple(recorder.transitions.get(inst.name, ())),
        )
        out.append(replace(view, **extras))
    return tuple(out)


def sync_groups(
    config: KeepalivedConfig, views: tuple[InstanceView, ...]
) -> tuple[SyncGroupView, ...]:
    state_of = {v.name: v.state for v in views}
    out = []
    for group in config.vrrp_sync_group:
        members = tuple(m.name for m in group.group)
        states = {state_of.get(m, "INIT") for m in members}
        out.append(SyncGroupView(name=group.name, state="/".join(sorted(states)), members=members))
    return tuple(out)


def virtual_servers(lvs: "LvsSide | None") -> tuple[VirtualServerView, ...]:
    if lvs is None or lvs.state is None:
        return ()
    probes = _probes(lvs)
    out = []
    for vs in lvs.config.virtual_server:
        keys = lvs.state.services_of.get(vs.id, ())
        servers = []
        for rs in vs.real_server:
            rid = RealServerId(vs.id, rs.ip, rs.port if rs.port is not None else vs.port or 0)
            servers.append(_real_server(lvs, rid, keys, rs.weight, probes.get(rid, ())))
        svc = lvs.counters.get(keys[0]) if keys else None
        total = svc.total if svc is not None else None
        quorum = lvs.state.quorum_up.get(vs.id, True)
        out.append(
            VirtualServerView(
                id=vs.id,
                services=tuple(str(k) for k in keys),
                scheduler=vs.lvs_sched,
                method=vs.lvs_method.kind,
                quorum_up=quorum,
                real_servers=tuple(servers),
                counters=_counters(total),
            )
        )
    return tuple(out)


def _real_server(
    lvs: "LvsSide",
    rid: RealServerId,
    keys: tuple[ServiceKey, ...],
    weight: int,
    probes: tuple[ProbeView, ...],
) -> RealServerView:
    dkey = DestKey(address=rid.address, port=rid.port)
    programmed = None
    counters = None
    for key in keys:
        entry = lvs.programmed.get(key)
        if entry is not None and dkey in entry.destinations:
            programmed = entry.destinations[dkey].weight
        svc = lvs.counters.get(key)
        if svc is not None and dkey in svc.destinations:
            counters = svc.destinations[dkey]
        break
    health = lvs.health.get(rid)
    desired_entry = lvs.state.table.get(keys[0]) if lvs.state and keys else None
    wanted = desired_entry.destinations.get(dkey) if desired_entry else None
    override = lvs.overrides.get(rid)
    return RealServerView(
        address=str(rid.address),
        port=rid.port,
        configured_weight=weight,
        weight=override if override is not None else (wanted.weight if wanted else 0),
        programmed_weight=programmed,
        healthy=health.up if health is not None else all(p.up for p in probes),
        drained=override == 0,
        probes=probes,
        counters=_counters(counters),
    )


def _probes(lvs: "LvsSide") -> dict[RealServerId, tuple[ProbeView, ...]]:
    from pykeepalived.check.from_config import CheckerKey  # loaded, since lvs exists

    out: dict[RealServerId, list[ProbeView]] = {}
    for status in lvs.probe_status():
        key = status.key
        if not isinstance(key, CheckerKey):
            continue
        rs: RealServerKey = key.real_server
        rid = RealServerId(rs.virtual_server, rs.address, rs.port)
        last = status.last
        out.setdefault(rid, []).append(
            ProbeView(
                checker=f"{key.kind} #{key.index}",
                up=status.up,
                ok=last.ok if last else None,
                reason=last.reason if last else "",
                latency_s=last.latency_s if last else None,
                probes_ok=status.probes - status.probes_failed,
                probes_failed=status.probes_failed,
                latency_sum_s=status.latency_sum_s,
                latency_buckets=status.latency_buckets,
            )
        )
    return {k: tuple(v) for k, v in out.items()}


def build_snapshot(
    *,
    config: KeepalivedConfig,
    config_path: str,
    started_at: float,
    reloads: int,
    live_instances: Iterable[InstanceSnapshot],
    recorder: TransitionRecorder,
    lvs: "LvsSide | None",
    events: EventLog,
    packet_errors: dict[str, int],
    vrrp_stats: Mapping[str, InstanceStats] | None = None,
    vrrp_now: float | None = None,
    smtp_alerts: Mapping[str, int] | None = None,
) -> DaemonSnapshot:
    """``vrrp_now``: the VRRP clock's time now, to date holds in Unix time."""
    taken_at = time.time()
    offset = taken_at - vrrp_now if vrrp_now is not None else 0.0
    views = instances(config, live_instances, recorder, vrrp_stats, lambda t: t + offset)
    vss = virtual_servers(lvs)
    info = lvs.dataplane.info if lvs is not None else None
    return DaemonSnapshot(
        taken_at=taken_at,
        version=__version__,
        config_path=config_path,
        started_at=started_at,
        reloads=reloads,
        backend=info.name if info else "",
        backend_reason=info.reason if info else "",
        backend_notes=info.notes if info else (),
        instances=views,
        sync_groups=sync_groups(config, views),
        virtual_servers=vss,
        events=events.recent(),
        packet_errors=tuple(sorted(packet_errors.items())),
        check_results=check_results(vss),
        bgp=lvs.bgp.views() if lvs is not None and lvs.bgp is not None else (),
        smtp_alerts=tuple(sorted((smtp_alerts or {}).items())),
    )


def check_results(vss: Iterable[VirtualServerView]) -> tuple[tuple[str, str, int], ...]:
    """Probe results by checker kind ("HTTP_GET #0" -> HTTP_GET): ok and failed, summed."""
    totals: dict[tuple[str, str], int] = {}
    for vs in vss:
        for rs in vs.real_servers:
            for probe in rs.probes:
                kind = probe.checker.split(" #")[0]
                for result, n in (("ok", probe.probes_ok), ("failed", probe.probes_failed)):
                    totals[(kind, result)] = totals.get((kind, result), 0) + n
    return tuple((kind, result, n) for (kind, result), n in sorted(totals.items()))
