"""Desired state: config + real-server health -> the LVS table keepalived would program.

Rules: pure. Given the virtual servers of a config, the health of every real server (from the
checkers, or set by hand in tests) and the previous quorum state, compute the table and the new
quorum state, following keepalived's ``check/ipwrapper.c``:

* a live real server is programmed with its effective weight (config weight, or the dynamic
  weight its checkers report); a dead one is removed, or kept at weight 0 with
  ``inhibit_on_failure``;
* quorum: the sum of live weights is compared with ``quorum`` -/+ ``hysteresis`` (gain needs
  ``quorum + hysteresis``, loss happens below ``quorum - hysteresis`` or at zero), both first
  lowered as keepalived does when the real servers' configured weights cannot reach them;
* while quorum is down and a ``sorry_server`` is set, the sorry server replaces the real
  servers (inhibited ones stay at weight 0); ``sorry_server_inhibit`` keeps it at weight 0
  otherwise;
* ``alpha`` (real server starts down) is the health source's job: a real server with no health
  reported yet counts as up unless alpha is set for it.

Every virtual service the config names is in the table, even with no destination.
"""

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from ipaddress import IPv6Address, ip_address

from pykeepalived.config.model import KeepalivedConfig
from pykeepalived.config.model_lvs import LvsMethod, RealServer, VirtualServer, VirtualServerGroup
from pykeepalived.lvs.table import (
    Destination,
    DestKey,
    IPAddress,
    Method,
    Service,
    ServiceEntry,
    ServiceKey,
)

MAX_GROUP_SERVICES = 65536


@dataclass(frozen=True, slots=True, order=True)
class RealServerId:
    """A real server of one ``virtual_server`` block: health is reported per this id."""

    virtual_server: str
    address: IPAddress
    port: int


@dataclass(frozen=True, slots=True)
class Health:
    up: bool
    weight: int | None = None  # a dynamic weight (misc_dynamic, FILE_CHECK) overrides the config


@dataclass(frozen=True, slots=True, kw_only=True)
class DesiredState:
    table: Mapping[ServiceKey, ServiceEntry]
    quorum_up: Mapping[str, bool]
    services_of: Mapping[str, tuple[ServiceKey, ...]] = field(default_factory=dict)


def virtual_server_id(vs: VirtualServer) -> str:
    """``192.168.88.100:80/TCP``, ``FWM 1/TCP``, ``group web/TCP``: ``VirtualServer.id``."""
    return vs.id


def real_server_id(vs: VirtualServer, rs: RealServer) -> RealServerId:
    return RealServerId(virtual_server_id(vs), rs.ip, dest_port(vs, rs))


def dest_port(vs: VirtualServer, rs: RealServer) -> int:
    if rs.port is not None:
        return rs.port
    return vs.port or 0


def compute(
    config: KeepalivedConfig,
    health: Mapping[RealServerId, Health],
    previous_quorum: Mapping[str, bool] | None = None,
) -> DesiredState:
    groups = {g.name: g for g in config.virtual_server_group}
    table: dict[ServiceKey, ServiceEntry] = {}
    quorum: dict[str, bool] = {}
    services_of: dict[str, tuple[ServiceKey, ...]] = {}
    for vs in config.virtual_server:
        vs_id = virtual_server_id(vs)
        dests, quorum[vs_id] = _destinations(vs, health, (previous_quorum or {}).get(vs_id))
        keys = tuple(service_keys(vs, groups))
        services_of[vs_id] = keys
        for key in keys:
            table[key] = ServiceEntry(service=_service(vs, key), destinations=_ports(key, dests))
    return DesiredState(table=table, quorum_up=quorum, services_of=services_of)


def _ports(key: ServiceKey, dests: dict[DestKey, Destination]) -> dict[DestKey, Destination]:
    """keepalived's ``ipvs_cmd`` / ``ipvs_group_range_cmd`` (and ipvsadm): a DR or TUN real
    server takes the virtual service's port (0 for a fwmark service), since the packet's
    port is not rewritten; only NAT keeps the real server's own port."""
    out: dict[DestKey, Destination] = {}
    for dest in dests.values():
        if dest.method is not Method.NAT and dest.key.port != key.port:
            dest = replace(dest, key=DestKey(address=dest.key.address, port=key.port))
        out[dest.key] = dest
    return out


def _destinations(
    vs: VirtualServer, health: Mapping[RealServerId, Health], was_up: bool | None
) -> tuple[dict[DestKey, Destination], bool]:
    live: dict[DestKey, Destination] = {}
    inhibited: dict[DestKey, Destination] = {}
    live_weight = 0
    for rs in vs.real_server:
        state = health.get(real_server_id(vs, rs)) or Health(up=not _alpha(vs, rs))
        weight = max(0, min(65535, rs.weight if state.weight is None else state.weight))
        dest = _destination(vs, rs, weight)
        if state.up:
            live[dest.key] = dest
            live_weight += weight
        elif _inhibit(vs, rs):
            inhibited[dest.key] = replace(dest, weight=0)
    up = _quorum(vs, live_weight, was_up)
    sorry = vs.sorry_server
    if sorry is not None and not up:
        kept = {k: replace(d, weight=0) for k, d in live.items() if _inhibits(vs, k)}
        return {**inhibited, **kept, **_sorry(vs, weight=1)}, up
    zeroed_sorry = _sorry(vs, weight=0) if sorry is not None and vs.sorry_server_inhibit else {}
    return {**zeroed_sorry, **inhibited, **live}, up


def _inhibit(vs: VirtualServer, rs: RealServer) -> bool:
    if rs.inhibit_on_failure is not None:
        return rs.inhibit_on_failure
    return vs.inhibit_on_failure


def _inhibits(vs: VirtualServer, key: DestKey) -> bool:
    return any(
        _inhibit(vs, rs)
        for rs in vs.real_server
        if rs.ip == key.address and dest_port(vs, rs) == key.port
    )


def effective_quorum(vs: VirtualServer) -> tuple[int, int]:
    """(quorum, hysteresis) as keepalived runs them (check_data.c validate_check_config).

    A quorum above the real servers' total configured weight is lowered to that total (else
    it could never be met), then a hysteresis >= quorum is lowered to quorum - 1.
    """
    quorum = min(vs.quorum, sum(rs.weight for rs in vs.real_server))
    return quorum, min(vs.hysteresis, max(quorum - 1, 0))


def _quorum(vs: VirtualServer, live_weight: int, was_up: bool | None) -> bool:
    """keepalived's update_quorum_state; ``None`` is the first computation (start or new VS).

    With every configured weight 0, keepalived's quorum is 0 and its hysteresis wraps to
    UINT_MAX: the quorum is never gained. We keep that outcome.
    """
    quorum, hysteresis = effective_quorum(vs)
    if quorum == 0:
        return False
    if not was_up:
        return live_weight >= quorum + hysteresis
    return not (live_weight == 0 or live_weight < quorum - hysteresis)


def _alpha(vs: VirtualServer, rs: RealServer) -> bool:
    if not rs.checkers:
        return False
    return rs.alpha if rs.alpha is not None else vs.alpha


def _destination(vs: VirtualServer, rs: RealServer, weight: int) -> Destination:
    return _dest(
        DestKey(address=rs.ip, port=dest_port(vs, rs)),
        weight,
        rs.lvs_method or vs.lvs_method,
        upper=rs.uthreshold or 0,
        lower=rs.lthreshold or 0,
    )


def _dest(
    key: DestKey, weight: int, method: LvsMethod, upper: int = 0, lower: int = 0
) -> Destination:
    return Destination(
        key=key,
        weight=weight,
        method=Method[method.kind],
        upper_threshold=upper,
        lower_threshold=lower,
        tunnel_type=method.tunnel_type,
        tunnel_port=method.tunnel_port,
        tunnel_csum=method.tunnel_csum,
    )


def _sorry(vs: VirtualServer, *, weight: int) -> dict[DestKey, Destination]:
    sorry = vs.sorry_server
    assert sorry is not None
    method = vs.sorry_server_lvs_method or vs.lvs_method
    key = DestKey(address=sorry.ip, port=sorry.port if sorry.port is not None else vs.port or 0)
    return {key: _dest(key, weight, method)}


def _service(vs: VirtualServer, key: ServiceKey) -> Service:
    flags = {
        name
        for name, on in (
            ("flag-1", vs.flag_1),
            ("flag-2", vs.flag_2),
            ("flag-3", vs.flag_3),
            ("sh-port", vs.sh_port),
            ("sh-fallback", vs.sh_fallback),
            ("mh-port", vs.mh_port),
            ("mh-fallback", vs.mh_fallback),
        )
        if on
    }
    return Service(
        key=key,
        scheduler=vs.lvs_sched,
        flags=frozenset(flags),
        persistence_timeout=vs.persistence_timeout,
        persistence_netmask=vs.persistence_granularity,
        one_packet=vs.ops,
        persistence_engine=vs.persistence_engine,
    )


def service_keys(
    vs: VirtualServer, groups: Mapping[str, VirtualServerGroup]
) -> Iterator[ServiceKey]:
    if vs.fwmark is not None:
        yield ServiceKey(family=_fwmark_family(vs), fwmark=vs.fwmark)
    elif vs.ip is not None:
        yield ServiceKey(
            family=vs.ip.version, protocol=vs.protocol, address=vs.ip, port=vs.port or 0
        )
    elif vs.group is not None and vs.group in groups:
        yield from _group_keys(vs, groups[vs.group])


def _fwmark_family(vs: VirtualServer, declared: str | None = None) -> int:
    family = declared or vs.ip_family
    if family is not None:
        return 6 if family == "inet6" else 4
    versions = {rs.ip.version for rs in vs.real_server}
    return versions.pop() if len(versions) == 1 else 4


def _group_keys(vs: VirtualServer, group: VirtualServerGroup) -> Iterator[ServiceKey]:
    count = 0
    for member in group.members:
        if member.fwmark is not None:
            yield ServiceKey(family=_fwmark_family(vs, member.family), fwmark=member.fwmark)
            continue
        assert member.first is not None
        assert member.last is not None
        for value in range(int(member.first), int(member.last) + 1):
            count += 1
            if count > MAX_GROUP_SERVICES:
                return
            address = ip_address(value) if member.first.version == 4 else IPv6Address(value)
            yield ServiceKey(
                family=member.first.version,
                protocol=vs.protocol,
                address=address,
                port=member.port if member.port is not None else vs.port or 0,
            )
