"""What readers may see of the running daemon: immutable snapshots, events, and commands.

Rules: L4, values only. The daemon builds a ``DaemonSnapshot`` on demand from its live objects;
the API, the metrics and the dashboard read snapshots and never touch live objects. Anything
that changes the daemon (drain a real server, release mastership, reload) is a ``Command``
put on the daemon's queue and answered with a ``CommandResult``.
"""

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field

from pykeepalived.eventlog import Event, EventLog, Transition
from pykeepalived.lvs.table import Counters

__all__ = [
    "MAX_HOLD_S",
    "BgpPrefixView",
    "Command",
    "CommandKind",
    "CommandResult",
    "CountersView",
    "DaemonSnapshot",
    "Event",
    "EventLog",
    "InstanceView",
    "Overrides",
    "ProbeView",
    "RealServerRef",
    "RealServerView",
    "SyncGroupView",
    "Transition",
    "VirtualServerView",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class InstanceView:
    name: str
    interface: str
    virtual_router_id: int
    version: int
    state: str
    priority: int
    effective_priority: int
    master_ip: str | None
    advert_int_s: float
    vips: tuple[str, ...]
    sync_group: str | None = None
    faults: tuple[str, ...] = ()
    transitions: tuple[Transition, ...] = ()
    adverts_sent: int = 0
    adverts_received: int = 0
    priority_zero_sent: int = 0
    priority_zero_received: int = 0
    vips_restored: int = 0  # put back after something else removed them while MASTER
    packet_errors: tuple[tuple[str, int], ...] = ()  # (reason, count): adverts it refused
    state_changes: tuple[tuple[str, str, int], ...] = ()  # (from, to, count) since start
    held: bool = False  # release-master: kept out of MASTER until reclaim-master (or held_until)
    held_by: str | None = None
    held_reason: str | None = None
    held_since: float | None = None  # wall clock (time.time())
    held_until: float | None = None  # wall clock; None: until reclaim-master


@dataclass(frozen=True, slots=True, kw_only=True)
class SyncGroupView:
    name: str
    state: str
    members: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeView:
    """The last probe of one checker of a real server."""

    checker: str  # "HTTP_GET #0"
    up: bool
    ok: bool | None
    reason: str
    latency_s: float | None
    probes_ok: int = 0  # every probe since the checker started (a reload that changes it: 0)
    probes_failed: int = 0
    latency_sum_s: float = 0.0
    latency_buckets: tuple[tuple[str, int], ...] = ()  # (le, probes at most that long), +Inf last


CountersView = Counters
"""Data-plane counters as readers see them: the backends' own value type."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RealServerView:
    address: str
    port: int
    configured_weight: int
    weight: int  # what the daemon wants programmed now (drain: 0)
    programmed_weight: int | None  # what the data plane holds (None: not in the table)
    healthy: bool
    drained: bool = False
    probes: tuple[ProbeView, ...] = ()
    counters: CountersView = field(default_factory=CountersView)


@dataclass(frozen=True, slots=True, kw_only=True)
class VirtualServerView:
    id: str  # "192.168.88.100:80/TCP": the config block
    services: tuple[str, ...]  # "TCP 192.168.88.100:80" per kernel service (groups expand)
    scheduler: str
    method: str
    quorum_up: bool
    real_servers: tuple[RealServerView, ...]
    counters: CountersView = field(default_factory=CountersView)


@dataclass(frozen=True, slots=True, kw_only=True)
class BgpPrefixView:
    """A VIP this director announces over BGP when its gate holds (``bgp_speaker``)."""

    prefix: str  # "192.168.99.100/32"
    gate: str  # "all", "any" or "always"
    virtual_servers: tuple[str, ...]  # VirtualServerView.id of the services that gate it
    announced: bool  # the engine was told to announce it (and acknowledged)
    speaker: str  # "exabgp" or "bird"


@dataclass(frozen=True, slots=True, kw_only=True)
class DaemonSnapshot:
    taken_at: float
    version: str
    config_path: str
    started_at: float
    reloads: int
    backend: str
    backend_reason: str
    backend_notes: tuple[str, ...]
    instances: tuple[InstanceView, ...]
    sync_groups: tuple[SyncGroupView, ...]
    virtual_servers: tuple[VirtualServerView, ...]
    events: tuple[Event, ...]
    packet_errors: tuple[tuple[str, int], ...] = ()  # (reason, count)
    check_results: tuple[tuple[str, str, int], ...] = ()  # (checker kind, result, count)
    bgp: tuple[BgpPrefixView, ...] = ()  # active-active: the VIPs and their announcement
    smtp_alerts: tuple[tuple[str, int], ...] = ()  # e-mail alerts: (sent|failed|dropped, count)


MAX_HOLD_S = 7 * 24 * 3600.0
"""release-master's longest ``hold_s`` (the VRRP core's ``vrrp.hold.MAX_HOLD_S``, kept equal by a
test): longer is surely a typo, seconds taken for minutes."""


class CommandKind(enum.Enum):
    DRAIN = "drain"  # real server weight 0, kept in the table
    UNDRAIN = "undrain"  # back to its configured (or health-given) weight
    SET_WEIGHT = "set-weight"
    RELEASE_MASTER = "release-master"  # priority 0 advert, then held BACKUP (no preemption)
    RECLAIM_MASTER = "reclaim-master"  # lift that hold: back in the election
    RELOAD = "reload"


@dataclass(frozen=True, slots=True, kw_only=True)
class Command:
    kind: CommandKind
    virtual_server: str | None = None
    address: str | None = None
    port: int | None = None
    weight: int | None = None
    instance: str | None = None
    hold_s: float | None = None  # release-master: lift the hold by itself after this long
    origin: str = "api"
    client: str = ""  # who asked (the API: the peer's address), for logs and the hold's reason


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandResult:
    ok: bool
    message: str
    not_found: bool = False  # the named real server / instance does not exist


@dataclass(frozen=True, slots=True, kw_only=True)
class RealServerRef:
    virtual_server: str
    address: str
    port: int

    @classmethod
    def of(cls, items: Iterable[str]) -> "RealServerRef":
        vs, address, port = items
        return cls(virtual_server=vs, address=address, port=int(port))


@dataclass(slots=True)
class Overrides:
    """Operator overrides (drain, set weight) the daemon applies on top of health."""

    weights: dict[RealServerRef, int] = field(default_factory=dict)
