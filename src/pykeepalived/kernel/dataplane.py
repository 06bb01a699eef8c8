"""The data-plane port: what the LVS control loop needs from a backend (IPVS or nftables).

Rules: a typing.Protocol and the small result types around it; no implementation. Backends
speak the ``lvs.table`` vocabulary. ``apply`` receives both the planned operations and the full
desired table so that a backend can apply operation by operation (IPVS over netlink) or replace
its own table atomically (nftables); either way it reports each failure, never raises half-way.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from pykeepalived.kernel.backend import BackendInfo
from pykeepalived.lvs.reconcile import Op
from pykeepalived.lvs.table import Counters, DestKey, ServiceKey, Table


@dataclass(frozen=True, slots=True, kw_only=True)
class OpFailure:
    op: Op
    error: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceCounters:
    total: Counters
    destinations: Mapping[DestKey, Counters] = field(default_factory=dict)


class DataPlane(Protocol):
    @property
    def info(self) -> BackendInfo: ...

    async def observe(self) -> Table:
        """Every service the backend holds now (ours and, for IPVS, others')."""
        ...

    async def apply(self, ops: Sequence[Op], desired: Table) -> list[OpFailure]:
        """Apply ``ops``; return the ones that failed (empty when all went through)."""
        ...

    async def counters(self) -> Mapping[ServiceKey, ServiceCounters]: ...

    async def close(self) -> None: ...


@runtime_checkable
class Flushable(Protocol):
    """A backend that can empty its whole table in one step (``lvs_flush``,
    ``lvs_flush_on_stop``): IPVS every service of the network namespace, nftables our tables."""

    async def flush(self) -> None:
        """Remove every virtual service; raises ``KernelError`` when it could not."""
        ...


@runtime_checkable
class ConnectionSync(Protocol):
    """What only the IPVS backend offers: the kernel's connection-sync daemons and timeouts
    (``lvs_sync_daemon``, ``lvs_timeouts``)."""

    async def start_sync_daemon(self, daemon: Any) -> None: ...

    async def stop_sync_daemon(self, state: str) -> None: ...

    async def set_timeouts(self, timeouts: Any) -> None: ...
