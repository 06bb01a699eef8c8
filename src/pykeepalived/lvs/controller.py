"""LVS controller: keep a data plane equal to the desired table, with retries.

Rules: the asyncio glue between the pure reconcile plan and a ``DataPlane`` backend. Every
update observes the backend, plans, applies and reports; a failed operation is retried by
re-running the same reconcile after a back-off (the plan is idempotent, so a retry is just
"reconcile again"). It owns exactly the services it has been asked to program (``owned``),
adopts a previous run's services without a flush, and on stop removes what it owns. A flush
(``lvs_flush`` at start, ``lvs_flush_on_stop``) empties the whole data plane instead, ours or
not, when the config asks for it (``lvs.flush``).
"""

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pykeepalived.errors import KernelError
from pykeepalived.kernel.dataplane import DataPlane, Flushable, OpFailure
from pykeepalived.lvs.reconcile import Op, plan, teardown
from pykeepalived.lvs.table import ServiceKey, Table
from pykeepalived.periodic import every

log = logging.getLogger("pykeepalived.lvs")

RETRY_DELAYS_S = (0.5, 1.0, 2.0, 5.0, 10.0)
AUDIT_S = 5.0  # how often the kernel's table is checked for services gone missing


@dataclass(frozen=True, slots=True, kw_only=True)
class ApplyReport:
    applied: tuple[Op, ...]
    failed: tuple[OpFailure, ...]


@dataclass
class LvsController:
    dataplane: DataPlane
    on_report: Callable[[ApplyReport], None] | None = None
    retry_delays_s: Sequence[float] = RETRY_DELAYS_S
    owned: set[ServiceKey] = field(default_factory=set)
    _desired: Table = field(default_factory=dict)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _retry: asyncio.Task[None] | None = None

    async def update(self, desired: Table) -> ApplyReport:
        """Make the data plane hold ``desired``; services we owned and dropped are removed."""
        async with self._lock:
            self._desired = desired
            report = await self._reconcile()
        self._schedule_retry(report)
        return report

    async def _reconcile(self) -> ApplyReport:
        observed = await self.dataplane.observe()
        ops = plan(self._desired, observed, self.owned)
        failures = await self.dataplane.apply(ops, self._desired) if ops else []
        failed_ops = {id(f.op) for f in failures}
        applied = tuple(op for op in ops if id(op) not in failed_ops)
        self.owned = (self.owned & set(observed)) | set(self._desired)
        report = ApplyReport(applied=applied, failed=tuple(failures))
        name = self.dataplane.info.name
        for op in applied:
            log.info("%s: %s", name, op)
        for failure in failures:
            log.error("%s: %s failed: %s (will retry)", name, failure.op, failure.error)
        if self.on_report is not None:
            self.on_report(report)
        return report

    def _schedule_retry(self, report: ApplyReport) -> None:
        if not report.failed or (self._retry is not None and not self._retry.done()):
            return
        self._retry = asyncio.create_task(self._retry_loop(), name="lvs-retry")

    async def _retry_loop(self) -> None:
        for delay in self.retry_delays_s:
            await asyncio.sleep(delay)
            async with self._lock:
                report = await self._reconcile()
            if not report.failed:
                log.info("IPVS: retry succeeded, the table is as configured")
                return
        log.error(
            "IPVS: giving up retries; the table differs from the config until the next change"
        )

    async def restore_missing(self) -> list[ServiceKey]:
        """Services of the config missing from the kernel (a table flushed or a service
        deleted outside pykeepalived: ``ipvsadm -C``, a firewall reload's ``nft flush
        ruleset``) are added back with their destinations; which were missing.

        Services that exist are left as they are, changed or not: an operator draining a
        server with ``ipvsadm -e ... -w 0`` keeps it so until the next checker verdict on
        it, as with keepalived, which repairs nothing (its table stays empty after
        ``ipvsadm -C`` until a restart)."""
        async with self._lock:
            observed = await self.dataplane.observe()
            missing = sorted(key for key in self._desired if key not in observed)
            if not missing:
                return []
            ops = plan({key: self._desired[key] for key in missing}, observed)
            failures = await self.dataplane.apply(ops, self._desired)
            name = self.dataplane.info.name
            log.warning("%s: %d virtual server(s) missing from the kernel (removed outside "
                        "pykeepalived): adding them back", name, len(missing))  # fmt: skip
            for op in ops:
                log.info("%s: %s", name, op)
            for failure in failures:
                log.error("%s: %s failed: %s", name, failure.op, failure.error)
            self.owned |= set(missing)
        return missing

    async def watch_missing(self, stop: asyncio.Event, every_s: float = AUDIT_S) -> None:
        """``restore_missing`` every ``every_s`` until ``stop``; a failed look is logged and
        tried again at the next."""
        async for _tick in every(every_s, stop):
            try:
                await self.restore_missing()
            except KernelError as exc:
                log.error("%s: cannot read the table back: %s", self.dataplane.info.name, exc)

    async def flush(self, why: str) -> bool:
        """Empty the whole data plane, ours or not (``why``: the keyword asking); False, and
        logged, when the backend cannot or the kernel refused."""
        async with self._lock:
            return await self._flush(why)

    async def _flush(self, why: str) -> bool:
        name = self.dataplane.info.name
        if not isinstance(self.dataplane, Flushable):
            log.warning("%s: %s: this data plane cannot flush its table", name, why)
            return False
        try:
            await self.dataplane.flush()
        except KernelError as exc:
            log.error("%s: %s: flushing the table failed: %s", name, why, exc)
            return False
        log.info("%s: %s: the whole table flushed", name, why)
        self.owned = set()
        return True

    async def stop(self, *, flush: bool = False) -> ApplyReport:
        """Remove every service we own (graceful stop); with ``flush``, the whole table in one
        command instead (``lvs_flush_on_stop``), or ours one by one should that fail."""
        if self._retry is not None:
            self._retry.cancel()
        async with self._lock:
            observed = await self.dataplane.observe()
            ops = teardown(self.owned, observed)
            failures: list[OpFailure] = []
            if not (flush and await self._flush("lvs_flush_on_stop")) and ops:
                failures = await self.dataplane.apply(ops, {})
            self.owned = set()
            self._desired = {}
        return ApplyReport(applied=tuple(ops), failed=tuple(failures))
