"""The LVS table as values: virtual services and their destinations, keyed by identity.

Rules: this is the vocabulary shared by the desired-state computation, the reconcile diff and
every data-plane backend (IPVS over netlink, nftables). Values only: no I/O, no config types.
Identity (``ServiceKey``, ``DestKey``) is what a service or destination *is*; everything else
is an attribute that can be edited in place, which is what keeps reloads minimal.
"""

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network, IPv6Address

IPAddress = IPv4Address | IPv6Address


class Method(enum.Enum):
    """Forwarding method (``lvs_method``); values are IPVS's IP_VS_CONN_F_* codes."""

    NAT = 0  # IP_VS_CONN_F_MASQ
    TUN = 2  # IP_VS_CONN_F_TUNNEL
    DR = 3  # IP_VS_CONN_F_DROUTE


SCHEDULERS = frozenset(
    ["rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh", "twos"]
)
SCHED_FLAGS = frozenset(
    {"flag-1", "flag-2", "flag-3", "sh-port", "sh-fallback", "mh-port", "mh-fallback"}
)
# IPVS keeps three scheduler flag bits; sh and mh give the first two a name of their own.
_FLAG_BIT = {
    "flag-1": 1, "sh-fallback": 1, "mh-fallback": 1,
    "flag-2": 2, "sh-port": 2, "mh-port": 2,
    "flag-3": 3,
}  # fmt: skip
_FLAG_NAME = {
    "sh": {1: "sh-fallback", 2: "sh-port", 3: "flag-3"},
    "mh": {1: "mh-fallback", 2: "mh-port", 3: "flag-3"},
}
TUNNEL_TYPES = frozenset({"ipip", "gue", "gre"})
TUNNEL_CSUMS = frozenset({"nocsum", "csum", "remcsum"})
DEFAULT_PERSISTENCE_TIMEOUT = 360  # keepalived's IPVS_SVC_PERSISTENT_TIMEOUT


def canonical_flags(scheduler: str, flags: frozenset[str]) -> frozenset[str]:
    """One name per flag bit, the one ipvsadm shows for ``scheduler`` (``sh-port`` for sh,
    ``flag-2`` for wlc): keepalived accepts any spelling, the kernel keeps only the bit."""
    unknown = flags - SCHED_FLAGS
    if unknown:
        raise ValueError(f"unknown scheduler flags {sorted(unknown)}")
    names = _FLAG_NAME.get(scheduler, {})
    return frozenset(names.get(_FLAG_BIT[f], f"flag-{_FLAG_BIT[f]}") for f in flags)


def canonical_netmask(family: int, netmask: str | None) -> str | None:
    """A persistence granularity as IPVS keeps it: an IPv4 mask (``255.255.255.0``, also
    given as ``24``) or an IPv6 prefix length (``64``); the full mask is ``None``."""
    if netmask is None:
        return None
    text = netmask.strip().lstrip("/")
    if family == 6:
        length = int(text)
        if not 1 <= length <= 128:
            raise ValueError(f"IPv6 persistence prefix length {length} out of range 1..128")
        return None if length == 128 else str(length)
    mask = IPv4Network(f"0.0.0.0/{text}").netmask
    return None if int(mask) == 0xFFFFFFFF else str(mask)


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class ServiceKey:
    """``TCP 192.168.88.100:80`` or ``FWM 1`` (per family), as ipvsadm identifies a service."""

    family: int
    protocol: str = ""
    address: IPAddress | None = None
    port: int = 0
    fwmark: int = 0

    def __post_init__(self) -> None:
        if self.family not in (4, 6):
            raise ValueError(f"family must be 4 or 6, not {self.family}")
        if self.fwmark:
            if self.address is not None or self.port or self.protocol:
                raise ValueError("a fwmark service has no address, port or protocol")
        elif self.address is None or self.protocol not in ("TCP", "UDP", "SCTP"):
            raise ValueError("an address service needs an address and TCP/UDP/SCTP")
        elif self.address.version != self.family:
            raise ValueError(f"address {self.address} is not IPv{self.family}")

    def __str__(self) -> str:
        if self.fwmark:
            return f"FWM {self.fwmark}" + (" IPv6" if self.family == 6 else "")
        host = f"[{self.address}]" if self.family == 6 else str(self.address)
        return f"{self.protocol} {host}:{self.port}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Service:
    """A virtual service's editable attributes."""

    key: ServiceKey
    scheduler: str = "wlc"
    flags: frozenset[str] = frozenset()
    persistence_timeout: int | None = None
    persistence_netmask: str | None = None
    one_packet: bool = False
    persistence_engine: str | None = None

    def __post_init__(self) -> None:
        """Canonical form: equal values mean the same kernel state, so that what a backend
        reads back compares equal to what was asked for (flag aliases, netmask spellings,
        ``persistence_timeout 0``, a granularity without a timeout as keepalived reads it)."""
        if self.scheduler not in SCHEDULERS:
            raise ValueError(f"unknown scheduler {self.scheduler!r}")
        timeout = self.persistence_timeout or None
        if timeout is None and self.persistence_netmask is not None:
            timeout = DEFAULT_PERSISTENCE_TIMEOUT  # keepalived's persistence_granularity
        netmask = canonical_netmask(self.key.family, self.persistence_netmask) if timeout else None
        object.__setattr__(self, "flags", canonical_flags(self.scheduler, frozenset(self.flags)))
        object.__setattr__(self, "persistence_timeout", timeout)
        object.__setattr__(self, "persistence_netmask", netmask)
        object.__setattr__(self, "persistence_engine", self.persistence_engine or None)


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class DestKey:
    address: IPAddress
    port: int

    def __str__(self) -> str:
        host = f"[{self.address}]" if self.address.version == 6 else str(self.address)
        return f"{host}:{self.port}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Destination:
    """A real server as programmed: weight 0 keeps it in the table but gives it no new flows."""

    key: DestKey
    weight: int = 1
    method: Method = Method.NAT
    upper_threshold: int = 0
    lower_threshold: int = 0
    tunnel_type: str | None = None
    tunnel_port: int | None = None
    tunnel_csum: str | None = None

    def __post_init__(self) -> None:
        """Canonical form: tunnel fields only for TUN, where they are explicit (ipip, nocsum
        by default, a port for GUE only), as IPVS keeps them."""
        if not 0 <= self.weight <= 65535:
            raise ValueError(f"weight {self.weight} out of range 0..65535")
        if self.method is not Method.TUN:
            tunnel: tuple[str | None, int | None, str | None] = (None, None, None)
        else:
            kind = self.tunnel_type or "ipip"
            csum = self.tunnel_csum or "nocsum"
            if kind not in TUNNEL_TYPES or csum not in TUNNEL_CSUMS:
                raise ValueError(f"unknown tunnel type {kind!r} or checksum option {csum!r}")
            if kind == "gue" and not self.tunnel_port:
                raise ValueError("a GUE tunnel needs a port")
            tunnel = (kind, self.tunnel_port if kind == "gue" else None, csum)
        object.__setattr__(self, "tunnel_type", tunnel[0])
        object.__setattr__(self, "tunnel_port", tunnel[1])
        object.__setattr__(self, "tunnel_csum", tunnel[2])


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceEntry:
    service: Service
    destinations: Mapping[DestKey, Destination] = field(default_factory=dict)


Table = Mapping[ServiceKey, ServiceEntry]


@dataclass(frozen=True, slots=True, kw_only=True)
class Counters:
    """What a data plane counts, per service or per destination (IPVS: ipvsadm --stats)."""

    connections: int = 0
    packets_in: int = 0
    packets_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    active_connections: int = 0
    inactive_connections: int = 0
