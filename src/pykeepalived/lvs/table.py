"""The LVS table as values: virtual services and their destinations, keyed by identity.

Rules: this is the vocabulary shared by the desired-state computation, the reconcile diff and
every data-plane backend (IPVS over netlink, nftables). Values only: no I/O, no config types.
Identity (``ServiceKey``, ``DestKey``) is what a service or destination *is*; everything else
is an attribute that can be edited in place, which is what keeps reloads minimal.
"""

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address

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
        if self.scheduler not in SCHEDULERS:
            raise ValueError(f"unknown scheduler {self.scheduler!r}")
        if not self.flags <= SCHED_FLAGS:
            raise ValueError(f"unknown scheduler flags {sorted(self.flags - SCHED_FLAGS)}")


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
        if not 0 <= self.weight <= 65535:
            raise ValueError(f"weight {self.weight} out of range 0..65535")


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
