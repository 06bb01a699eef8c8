"""The checker + LVS half of the daemon: health checks drive the desired table, the
controller keeps the data plane equal to it, and notify_up/down, quorum_up/down scripts run.

Rules: asyncio glue (L4). Checker events update the health map; a change wakes one loop that
recomputes the desired table (pure ``lvs.desired``), applies operator overrides (drain, set
weight) and reconciles; bursts of events coalesce into one reconcile. A reload swaps the config:
checkers that did not change keep their state, the reconcile applies the minimal difference.
On stop the controller removes every service it owns; ``lvs_flush`` / ``lvs_flush_on_stop``
flush the whole table at the first start / at stop instead (``lvs.flush``).
"""

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from pykeepalived.alerts.smtp import Mailer
from pykeepalived.check.aggregate import HealthBook
from pykeepalived.check.from_config import ChecksPlan, RealServerKey, build
from pykeepalived.check.runner import CheckEvent, CheckRunner, CheckStatus
from pykeepalived.clock import Clock
from pykeepalived.config.model import KeepalivedConfig
from pykeepalived.daemon import alert_hooks_lvs as alerts
from pykeepalived.daemon.bgp_side import BgpSide
from pykeepalived.daemon.sync_daemon import SyncDaemonSwitch
from pykeepalived.kernel.dataplane import DataPlane, ServiceCounters
from pykeepalived.lvs.controller import LvsController
from pykeepalived.lvs.desired import DesiredState, Health, RealServerId, compute
from pykeepalived.lvs.events import ScriptRun, scripts, shutdown_scripts
from pykeepalived.lvs.flush import StopFlush, flush_policy
from pykeepalived.lvs.table import DestKey, ServiceEntry, ServiceKey, Table
from pykeepalived.notify import STOP_TIMEOUT_S, ScriptRunner, ScriptSpec
from pykeepalived.state import EventLog

log = logging.getLogger("pykeepalived.check")
COUNTERS_EVERY_S = 2.0


def _rsid(key: RealServerKey) -> RealServerId:
    return RealServerId(key.virtual_server, key.address, key.port)


def with_overrides(
    state: DesiredState, overrides: Mapping[RealServerId, int]
) -> dict[ServiceKey, ServiceEntry]:
    """The table with operator weights (drain = 0) applied to the destinations that are in it:
    an override never brings back a real server that health removed."""
    out = dict(state.table)
    for rid, weight in overrides.items():
        for key in state.services_of.get(rid.virtual_server, ()):
            entry = out.get(key)
            dkey = DestKey(address=rid.address, port=rid.port)
            if entry is None or dkey not in entry.destinations:
                continue
            dests = dict(entry.destinations)
            dests[dkey] = replace(dests[dkey], weight=weight)
            out[key] = ServiceEntry(service=entry.service, destinations=dests)
    return out


@dataclass
class LvsSide:
    config: KeepalivedConfig
    dataplane: DataPlane
    scripts: ScriptRunner
    clock: Clock
    events: EventLog = field(default_factory=EventLog)
    health: dict[RealServerId, Health] = field(default_factory=dict)
    overrides: dict[RealServerId, int] = field(default_factory=dict)
    state: DesiredState | None = None
    programmed: Table = field(default_factory=dict)
    counters: Mapping[ServiceKey, ServiceCounters] = field(default_factory=dict)
    plan: ChecksPlan | None = None
    runner: CheckRunner | None = None
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _last_health: dict[RealServerId, Health] = field(default_factory=dict)
    _controller: LvsController | None = None
    _book: HealthBook = field(default_factory=HealthBook)
    bgp: BgpSide | None = None  # active-active: VIP announcements gated by quorum
    mailer: Mailer | None = None  # e-mail alerts of checker and quorum changes

    def __post_init__(self) -> None:
        self.sync = SyncDaemonSwitch(self.config, self.dataplane)

    async def run(self, stop: asyncio.Event) -> None:
        self.plan = build(self.config)
        for note in self.plan.notes:
            log.warning("%s", note)
        self._book = self.plan.health_book()
        self._controller = LvsController(self.dataplane)
        info = self.dataplane.info
        log.info("LVS data plane: %s (%s)", info.name, info.reason)
        if flush_policy(self.config.global_defs).at_start:  # before anything is added
            await self._controller.flush("lvs_flush")
        if self.bgp is not None:
            await self.bgp.start()
        await self._reconcile()
        await self.sync.start()
        for note in self.dataplane.info.notes:
            log.warning("LVS data plane: %s", note)
        # freeze_gc: the long-lived config, plan and checker state leave the collector's full
        # passes (at 10,000 checkers those took 200-350 ms each; docs/benchmarks.md)
        self.runner = CheckRunner(self.plan.checks, self._on_event, clock=self.clock,
                                  freeze_gc=True)  # fmt: skip
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self.runner.run(stop), name="checkers")
                tg.create_task(self._loop(stop), name="lvs-reconcile")
                tg.create_task(self._poll_counters(stop), name="lvs-counters")
                audit = self._controller.watch_missing(stop)
                tg.create_task(audit, name="lvs-missing")
                if self.bgp is not None:
                    tg.create_task(self.bgp.run(stop), name="bgp")
        finally:
            if self.bgp is not None:  # withdraw first: the router moves the flows away
                await self.bgp.stop()
            for run in shutdown_scripts(self.config, self.health):
                self._run_script(run, timeout_s=STOP_TIMEOUT_S)  # keepalived's, when stopping
            await self.sync.stop()
            full = flush_policy(self.config.global_defs).at_stop is StopFlush.FULL
            report = await self._controller.stop(flush=full)
            log.info("LVS stop: removed %d entries", len(report.applied))
            for failure in report.failed:
                log.error("LVS stop: %s failed: %s", failure.op, failure.error)
            await self.dataplane.close()

    def _on_event(self, event: CheckEvent) -> None:
        before = alerts.checker_before(self._book, event.key) if self.mailer else None
        changed = self._book.apply(event.key, [event.event])
        if self.mailer is not None and before is not None:
            alerts.on_checker(self.mailer, self.config, self._book, event, before)
        if changed is None:
            return
        assert isinstance(changed.server, RealServerKey)
        rs = changed.server
        verb = "Adding service to" if changed.alive else "Removing service from"
        message = (
            f"{verb} VS {rs.virtual_server}: real server {rs.address} port {rs.port} "
            f"(weight {changed.weight}; {event.result.reason or 'ok'})"
        )
        log.info("%s", message)
        self.events.add("check", message)
        self.health[_rsid(rs)] = Health(up=changed.alive, weight=changed.weight)
        self._wake.set()

    def poke(self) -> None:
        """Recompute and reconcile soon (an override or a reload changed the inputs)."""
        self._wake.set()

    async def _loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            waiter = asyncio.ensure_future(self._wake.wait())
            stopper = asyncio.ensure_future(stop.wait())
            await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
            for task in (waiter, stopper):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if stop.is_set():
                return
            self._wake.clear()
            await self._reconcile()

    async def _reconcile(self) -> None:
        assert self._controller is not None
        before = self.state
        after = compute(self.config, self.health, before.quorum_up if before else None)
        for run in scripts(
            self.config,
            self._last_health,
            self.health,
            before.quorum_up if before else None,
            after.quorum_up,
        ):
            self._run_script(run)
        for vs_id, up in after.quorum_up.items():
            was = before.quorum_up.get(vs_id) if before else None
            if was is not None and was != up:
                self.events.add("lvs", f"VS {vs_id}: quorum {'gained' if up else 'lost'}")
        if self.mailer is not None:
            quorum = before.quorum_up if before else None
            alerts.on_quorum(self.mailer, self.config, quorum, after.quorum_up, self.health)
        self._last_health = dict(self.health)
        self.state = after
        desired = with_overrides(after, self.overrides)
        if self.bgp is not None:  # withdraw before the data plane changes
            await self.bgp.before_apply(after.quorum_up)
        report = await self._controller.update(desired)
        if self.bgp is not None:
            failed = {vs for f in report.failed for vs, keys in after.services_of.items()
                      if f.op.service in keys}  # fmt: skip
            self.bgp.after_apply(after.quorum_up, failed)
        for op in report.applied:
            self.events.add("lvs", f"{self.dataplane.info.name}: {op}")
        for failure in report.failed:
            self.events.add("lvs", f"{failure.op} failed: {failure.error}")
        self.programmed = desired

    async def _poll_counters(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                self.counters = await self.dataplane.counters()
            except Exception as exc:
                log.debug("LVS counters: %s", exc)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(COUNTERS_EVERY_S):
                    await stop.wait()

    def reload(self, config: KeepalivedConfig) -> str:
        """Swap the config: unchanged checkers keep running with their state."""
        assert self.runner is not None
        old_checks = {c.key: c for c in (self.plan.checks if self.plan else ())}
        plan = build(config)
        new_checks = {c.key: c for c in plan.checks}
        for key in old_checks.keys() - new_checks.keys():
            self.runner.remove(key)
        added = 0
        for key, check in new_checks.items():
            old = old_checks.get(key)
            same = old is not None and old.hysteresis == check.hysteresis
            if not (same and old is not None and repr(old.probe) == repr(check.probe)):
                if old is not None:
                    self.runner.remove(key)
                self.runner.add(check)
                added += 1
        running = {status.key: status.up for status in self.runner.status()}
        book = HealthBook()
        for server in plan.servers:
            initial = {k: running.get(k, up) for k, up in server.checkers.items()}
            book.add_server(server.key, server.weight, initial)
        self._book = book
        known = {_rsid(s.key) for s in plan.servers}
        self.health = {k: v for k, v in self.health.items() if k in known}
        self.overrides = {k: v for k, v in self.overrides.items() if k in known}
        self.config, self.plan = config, plan
        self.runner.freeze_soon()  # the new config model too, once this reload is done
        bgp = self.bgp.reload(config) if self.bgp is not None else ""
        self.poke()
        removed = len(old_checks.keys() - new_checks.keys())
        kept = len(new_checks) - added
        return f"checkers: {added} (re)started, {removed} removed, {kept} kept" + bgp

    def probe_status(self) -> list[CheckStatus]:
        return self.runner.status() if self.runner is not None else []

    def _run_script(self, run: ScriptRun, timeout_s: float | None = None) -> None:
        spec = ScriptSpec(
            command=run.script.command,
            username=run.script.username,
            groupname=run.script.groupname,
        )
        self.scripts.run(spec, why=run.hook.value, timeout_s=timeout_s)
