"""The checker + LVS half of the daemon: health checks drive the desired table, the
controller keeps the data plane equal to it, and notify_up/down, quorum_up/down scripts run.

Rules: asyncio glue (L4). Checker events update the health map; a change wakes one loop that
recomputes the desired table (pure ``lvs.desired``) and reconciles it; bursts of events
coalesce into one reconcile. On stop the controller removes every service it owns.
"""

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

from pykeepalived.check.from_config import RealServerKey, build
from pykeepalived.check.runner import CheckEvent, CheckRunner
from pykeepalived.clock import Clock
from pykeepalived.config.model import KeepalivedConfig
from pykeepalived.kernel.dataplane import DataPlane
from pykeepalived.lvs.controller import LvsController
from pykeepalived.lvs.desired import DesiredState, Health, RealServerId, compute
from pykeepalived.lvs.events import ScriptRun, scripts, shutdown_scripts
from pykeepalived.notify import ScriptRunner, ScriptSpec

log = logging.getLogger("pykeepalived.check")


def _rsid(key: RealServerKey) -> RealServerId:
    return RealServerId(key.virtual_server, key.address, key.port)


@dataclass
class LvsSide:
    config: KeepalivedConfig
    dataplane: DataPlane
    scripts: ScriptRunner
    clock: Clock
    health: dict[RealServerId, Health] = field(default_factory=dict)
    state: DesiredState | None = None
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _last_health: dict[RealServerId, Health] = field(default_factory=dict)

    async def run(self, stop: asyncio.Event) -> None:
        plan = build(self.config)
        for note in plan.notes:
            log.warning("%s", note)
        book = plan.health_book()
        controller = LvsController(self.dataplane)
        info = self.dataplane.info
        log.info("LVS data plane: %s (%s)", info.name, info.reason)
        for note in info.notes:
            log.warning("LVS data plane: %s", note)

        def on_event(event: CheckEvent) -> None:
            changed = book.apply(event.key, [event.event])
            if changed is None:
                return
            assert isinstance(changed.server, RealServerKey)
            rs = changed.server
            verb = "Adding service to" if changed.alive else "Removing service from"
            log.info("%s VS %s: real server %s port %d (weight %d)", verb, rs.virtual_server,
                     rs.address, rs.port, changed.weight)  # fmt: skip
            self.health[_rsid(rs)] = Health(up=changed.alive, weight=changed.weight)
            self._wake.set()

        await self._reconcile(controller)
        runner = CheckRunner(plan.checks, on_event, clock=self.clock)
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(runner.run(stop), name="checkers")
                tg.create_task(self._loop(controller, stop), name="lvs-reconcile")
        finally:
            for run in shutdown_scripts(self.config, self.health):
                self._run_script(run)
            report = await controller.stop()
            for failure in report.failed:
                log.error("LVS stop: %s failed: %s", failure.op, failure.error)
            await self.dataplane.close()

    async def _loop(self, controller: LvsController, stop: asyncio.Event) -> None:
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
            await self._reconcile(controller)

    async def _reconcile(self, controller: LvsController) -> None:
        before = self.state
        after = compute(self.config, self.health, before.quorum_up if before else None)
        previous_health = dict(self._last_health)
        for run in scripts(
            self.config,
            previous_health,
            self.health,
            before.quorum_up if before else None,
            after.quorum_up,
        ):
            self._run_script(run)
        self._last_health = dict(self.health)
        self.state = after
        await controller.update(after.table)

    def _run_script(self, run: ScriptRun) -> None:
        spec = ScriptSpec(
            command=run.script.command,
            username=run.script.username,
            groupname=run.script.groupname,
        )
        self.scripts.run(spec, why=run.hook.value)
