"""The daemon: one asyncio process running VRRP, the health checkers and the LVS control.

Rules: L4. It loads the config (refusing one with errors), supervises the VRRP and LVS halves
in one TaskGroup, turns signals into actions (SIGTERM/SIGINT: graceful stop; SIGHUP: reload;
SIGUSR1/SIGUSR2: data and stats dumps as keepalived writes them, plus a JSON dump), serves
snapshots to readers and executes their commands. It never picks a concrete adapter: the
composition root (``cli``/``runtime``) hands it factories, and the API is started from there
too (``Adapters.companions``), since the API sits above the daemon.
"""

import asyncio
import contextlib
import functools
import gc
import importlib
import logging
import signal
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from ipaddress import ip_address
from typing import TYPE_CHECKING, Any

from pykeepalived import sdnotify
from pykeepalived.alerts.smtp import Mailer
from pykeepalived.bgp.speaker import NoSpeaker, Speaker
from pykeepalived.clock import Clock
from pykeepalived.config.loader import LoadResult
from pykeepalived.config.model import KeepalivedConfig
from pykeepalived.daemon.alert_hooks import on_vrrp_state
from pykeepalived.daemon.dumps import DATA_DUMP, STATS_DUMP, write_dump
from pykeepalived.daemon.lifecycle import lifecycle_script
from pykeepalived.daemon.transitions import TransitionRecorder
from pykeepalived.daemon.vrrp_reload import identity, kept_instances, runs_vrrp, vrrp_part
from pykeepalived.errors import KernelError
from pykeepalived.eventlog import EventLog
from pykeepalived.kernel.ports import VipSpec
from pykeepalived.notify import ScriptRunner
from pykeepalived.vrrp.node import VrrpNode, VrrpPorts

# Imported when the LVS half starts (Daemon._start_lvs) or a reader asks, not before VRRP.
if TYPE_CHECKING:
    from pykeepalived.daemon.bgp_side import BgpSide
    from pykeepalived.daemon.lvs_side import LvsSide
    from pykeepalived.kernel.dataplane import DataPlane
    from pykeepalived.lvs.desired import RealServerId
    from pykeepalived.state import Command, CommandResult, DaemonSnapshot

log = logging.getLogger("pykeepalived")
_NO_SPEAKER = NoSpeaker()

VRRP_FIRST_S = 2.0  # the longest the LVS half waits for VRRP's start before its own


@dataclass(frozen=True, slots=True, kw_only=True)
class DaemonOptions:
    run_vrrp: bool = True
    run_checkers: bool = True
    log_detail: bool = False
    config_path: str = ""


Companion = Callable[["Daemon", asyncio.Event], Coroutine[Any, Any, None]]


@dataclass
class Adapters:
    """Factories of real (or, in tests, alternative) adapters, chosen by the caller."""

    load: Callable[[], LoadResult]
    vrrp_ports: Callable[[KeepalivedConfig, ScriptRunner], VrrpPorts]
    dataplane: Callable[[KeepalivedConfig], "DataPlane"]
    clock: Clock
    companions: list[Companion] = field(default_factory=list)
    # Active-active: builds the BGP speaker (ExaBGP or BIRD) of a ``bgp_speaker`` block.
    speaker: Callable[[KeepalivedConfig, list[str]], Speaker] | None = None


class Daemon:
    def __init__(self, options: DaemonOptions, adapters: Adapters) -> None:
        self.options = options
        self.adapters = adapters
        self.stop_event = asyncio.Event()
        self.config: KeepalivedConfig | None = None
        self.vrrp: VrrpNode | None = None
        self.lvs: LvsSide | None = None
        self.events = EventLog()
        self.recorder = TransitionRecorder(self.events)
        self.mailer = Mailer()  # e-mail alerts (alerts/), fed by the VRRP and LVS hooks
        self.started_at = time.time()
        self.reloads = 0
        self._tg: asyncio.TaskGroup | None = None
        self._vrrp_stop = asyncio.Event()
        self._vrrp_task: asyncio.Task[None] | None = None
        self._lvs_started = asyncio.Event()  # the LVS half exists (or is not configured here)
        self.exit_code = 0  # 1 when a part could not run on this machine (KernelError)

    async def run(self) -> int:
        result = self.adapters.load()
        self._log_diagnostics(result)
        if not result.ok or result.config is None:
            log.error("configuration has errors; not starting")
            return 1
        self.config = result.config
        logging.getLogger("pykeepalived.vrrp").addHandler(self.recorder)
        self.mailer.start()
        self._install_signals()
        scripts = self._script_runner(self.config)
        log.info("Starting pykeepalived (VRRP %s, checkers %s)",
                 "on" if self.options.run_vrrp else "off",
                 "on" if self.options.run_checkers else "off")  # fmt: skip
        self.events.add("daemon", "started")
        g = self.config.global_defs
        await lifecycle_script(scripts, g.startup_script, g.startup_script_timeout, "startup")
        starting = not self.stop_event.is_set()  # no SIGTERM during the startup script
        try:
            async with asyncio.TaskGroup() as tg:
                self._tg = tg
                # Keeps the group open until stop, so a reload can start a new VRRP node
                # after the old one has ended.
                tg.create_task(self.stop_event.wait(), name="daemon-stop")
                if starting and self.options.run_vrrp and runs_vrrp(self.config):
                    ports = self.adapters.vrrp_ports(self.config, scripts)
                    ports.on_state = functools.partial(on_vrrp_state, self.mailer)
                    self.vrrp = VrrpNode(self.config, ports, log_detail=self.options.log_detail)
                    self._vrrp_task = tg.create_task(self.vrrp.run(self._vrrp_stop), name="vrrp")
                if starting and self.options.run_checkers and self.config.virtual_server:
                    tg.create_task(self._start_lvs(scripts), name="lvs")
                else:
                    self._lvs_started.set()
                for companion in self.adapters.companions:
                    tg.create_task(companion(self, self.stop_event), name="companion")
                tg.create_task(self._announce_ready(), name="sd-notify")
        except* KernelError as failed:  # the machine refuses what the config asks: a clean exit
            for exc in failed.exceptions:
                log.error("cannot run: %s", exc)
            self.exit_code = 1
        finally:
            logging.getLogger("pykeepalived.vrrp").removeHandler(self.recorder)
            await self.mailer.close()  # the STOP mails get a short grace, the rest is counted
            # Scripts still running (a hung notify): SIGTERM, then SIGKILL; a reload leaves
            # them be, as keepalived's does.
            await scripts.stop()
            await lifecycle_script(scripts, g.shutdown_script, g.shutdown_script_timeout,
                                    "shutdown")  # fmt: skip
        log.info("Stopped pykeepalived")
        return self.exit_code

    async def _start_lvs(self, scripts: ScriptRunner) -> None:
        """The checker + LVS half. Its modules (checkers, probes, the IPVS messages) are
        imported once the VRRP node has started (timers armed; at most VRRP_FIRST_S later),
        in a worker thread, so the event loop runs VRRP meanwhile: under the IPVS VM's
        emulation these imports take seconds, which VRRP's start (a restarted master's
        preemption) no longer waits for. Not before: imports running beside VRRP's start
        share the interpreter lock with it and slowed it by as much (measured: 3.7 -> 7.7 s
        from the pid file to the VIP in the VM)."""
        try:
            if self.vrrp is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.vrrp.started.wait(), VRRP_FIRST_S)
            name = "pykeepalived.daemon.lvs_side"
            lvs_side = await asyncio.to_thread(importlib.import_module, name)
            assert self.config is not None
            dataplane = self.adapters.dataplane(self.config)
            lvs: LvsSide = lvs_side.LvsSide(self.config, dataplane, scripts, self.adapters.clock,
                                            events=self.events)  # fmt: skip
            lvs.bgp = self._bgp_side(self.config)
            lvs.mailer = self.mailer
            self.recorder.listeners.append(lvs.sync.on_transition)
            for instance, state in list(self.recorder.current.items()):
                lvs.sync.on_transition(instance, state)  # VRRP ran first: what it is now
            self.lvs = lvs
        finally:
            self._lvs_started.set()
        await lvs.run(self.stop_event)

    def _bgp_side(self, config: KeepalivedConfig) -> "BgpSide | None":
        from pykeepalived.daemon.bgp_side import BgpSide

        if config.bgp_speaker is None:
            return None
        if self.adapters.speaker is None:
            raise RuntimeError("bgp_speaker is configured but no speaker adapter was given")
        side = BgpSide(config, _NO_SPEAKER, self.adapters.clock, events=self.events)
        side.speaker = self.adapters.speaker(config, side.prefixes)
        return side

    async def _announce_ready(self) -> None:
        """Tell systemd we are up once every part has had a turn on the loop."""
        await asyncio.sleep(0.2)
        await self._lvs_started.wait()
        # What start-up built (config model, adapters, imported modules) lives as long as the
        # process: frozen out of the cyclic GC, a full collection no longer walks it (~10 ms
        # that could land on a VRRP takeover).
        gc.collect()
        gc.freeze()
        sdnotify.ready("running")

    def _script_runner(self, config: KeepalivedConfig) -> ScriptRunner:
        g = config.global_defs
        return ScriptRunner(
            secure=g.enable_script_security,
            default_user=g.script_user.username if g.script_user else None,
            default_group=g.script_user.groupname if g.script_user else None,
        )

    @staticmethod
    def _log_diagnostics(result: LoadResult) -> None:
        for diagnostic in result.diagnostics:
            (log.error if diagnostic.is_error else log.warning)("%s", diagnostic.render())

    # -- signals --------------------------------------------------------------------------

    def _install_signals(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stop, sig)
        loop.add_signal_handler(signal.SIGHUP, self._on_sighup)
        loop.add_signal_handler(signal.SIGUSR1, self._dump, DATA_DUMP, "data")
        loop.add_signal_handler(signal.SIGUSR2, self._dump, STATS_DUMP, "stats")

    def _stop(self, sig: signal.Signals) -> None:
        log.info("Received %s, stopping", sig.name)
        self.events.add("daemon", f"received {sig.name}, stopping")
        sdnotify.stopping()
        self._vrrp_stop.set()
        self.stop_event.set()

    def _on_sighup(self) -> None:
        log.info("Reloading configuration (SIGHUP)")
        asyncio.get_running_loop().create_task(self.reload(), name="reload")

    def _dump(self, path: str, kind: str) -> None:
        from pykeepalived.config.dump import to_data

        write_dump(to_data(self.snapshot()), path, kind)

    # -- readers and commands -------------------------------------------------------------

    def snapshot(self) -> "DaemonSnapshot":
        from pykeepalived.daemon.snapshot import build_snapshot  # for readers, not the start

        assert self.config is not None
        return build_snapshot(
            config=self.config,
            config_path=self.options.config_path,
            started_at=self.started_at,
            reloads=self.reloads,
            live_instances=self.vrrp.snapshot() if self.vrrp is not None else (),
            recorder=self.recorder,
            lvs=self.lvs,
            events=self.events,
            packet_errors=dict(self.vrrp.errors) if self.vrrp is not None else {},
            vrrp_stats=self.vrrp.stats if self.vrrp is not None else None,
            vrrp_now=self.vrrp.ports.clock.now() if self.vrrp is not None else None,
            smtp_alerts=self.mailer.stats.outcomes(),
        )

    async def submit(self, command: "Command") -> "CommandResult":
        from pykeepalived.state import CommandKind

        self.events.add("api", f"{command.origin}: {command.kind.value} {_describe(command)}")
        if command.kind is CommandKind.RELOAD:
            return await self.reload()
        if command.kind in (CommandKind.RELEASE_MASTER, CommandKind.RECLAIM_MASTER):
            return await self._mastership(command)
        return self._weight_command(command)

    async def _mastership(self, command: "Command") -> "CommandResult":
        """release-master / reclaim-master: a hold in the VRRP core, held by ``origin``."""
        from pykeepalived.state import CommandKind, CommandResult

        if self.vrrp is None or command.instance is None:
            return CommandResult(ok=False, message="VRRP is not running here", not_found=True)
        if command.kind is CommandKind.RELEASE_MASTER:
            reason = f"release-master from {command.client or command.origin}"
            out = await self.vrrp.release_master(
                command.instance, command.origin, reason, command.hold_s
            )
        else:
            out = await self.vrrp.reclaim_master(command.instance, command.origin)
        (log.info if out.ok else log.warning)("API: %s", out.message)
        self.events.add("vrrp", out.message)
        return CommandResult(ok=out.ok, message=out.message, not_found=out.not_found)

    def _weight_command(self, command: "Command") -> "CommandResult":
        from pykeepalived.state import CommandKind, CommandResult

        if self.lvs is None or self.lvs.state is None:
            return CommandResult(ok=False, message="no virtual server is running", not_found=True)
        rid = self._find_real_server(command)
        if rid is None:
            return CommandResult(ok=False, message=f"no real server {_describe(command)}",
                                 not_found=True)  # fmt: skip
        if command.kind is CommandKind.DRAIN:
            self.lvs.overrides[rid] = 0
        elif command.kind is CommandKind.UNDRAIN:
            self.lvs.overrides.pop(rid, None)
        else:
            if command.weight is None or not 0 <= command.weight <= 65535:
                return CommandResult(ok=False, message="weight must be 0..65535")
            self.lvs.overrides[rid] = command.weight
        self.lvs.poke()
        message = f"{command.kind.value} {rid.virtual_server} {rid.address}:{rid.port}"
        log.info("API: %s", message)
        return CommandResult(ok=True, message=message)

    def _find_real_server(self, command: "Command") -> "RealServerId | None":
        from pykeepalived.lvs.desired import RealServerId  # loaded: the LVS half runs

        assert self.lvs is not None
        try:
            address = ip_address(command.address or "")
        except ValueError:
            return None
        for vs in self.lvs.config.virtual_server:
            if command.virtual_server not in (None, vs.id):
                continue
            for rs in vs.real_server:
                port = rs.port if rs.port is not None else vs.port or 0
                if rs.ip == address and command.port in (None, port):
                    return RealServerId(vs.id, rs.ip, port)
        return None

    async def reload(self) -> "CommandResult":
        sdnotify.reloading()
        try:
            return await self._reload()
        finally:
            sdnotify.ready("running")

    async def _reload_vrrp(self, new: KeepalivedConfig) -> str:
        """Hand the running instances to a node built from ``new``: an instance whose identity
        is unchanged keeps its state and VIPs (no priority 0, no election), sync group members
        too (``vrrp_reload``); removed or re-identified ones stop as on shutdown; VIPs that
        left a kept instance are removed."""
        old_node, old = self.vrrp, self.config
        assert old is not None
        if old_node is None or self._tg is None:
            return "VRRP is not running here: nothing to reload"
        live = {s.name: s.state for s in old_node.snapshot()}
        before = {i.name: i for i in old.vrrp_instance}
        keep = kept_instances(old, new, live, identity)
        old_node.handover = set(keep)
        old_node.keep_static = True
        self._vrrp_stop.set()
        if self._vrrp_task is not None:
            await self._vrrp_task
        for name in keep:
            gone = {v.address for v in before[name].all_vips}
            gone -= {v.address for i in new.vrrp_instance if i.name == name for v in i.all_vips}
            for vip in before[name].all_vips:
                if vip.address in gone:
                    ifname = vip.dev or before[name].interface or ""
                    await old_node.ports.addresses.remove(VipSpec(address=vip.address,
                                                                  ifname=ifname))  # fmt: skip
        await old_node.release_gone(new, keep)  # routes/rules (and VIPs on a VMAC) that left
        self._vrrp_stop = asyncio.Event()
        holds = {s.name: s.holds for s in old_node.snapshot() if s.holds}
        self.vrrp = VrrpNode(new, old_node.ports, log_detail=self.options.log_detail, resume=keep,
                             holds=holds, stats=old_node.stats)  # fmt: skip
        self._vrrp_task = self._tg.create_task(self.vrrp.run(self._vrrp_stop), name="vrrp")
        changed = len(new.vrrp_instance) - len(keep)
        return f"VRRP: {len(keep)} instance(s) kept their state, {changed} (re)started"

    async def _reload(self) -> "CommandResult":
        from pykeepalived.state import CommandResult

        result = self.adapters.load()
        self._log_diagnostics(result)
        if not result.ok or result.config is None:
            message = f"reload refused: {len(result.errors)} error(s); keeping the running config"
            log.error("%s", message)
            self.events.add("daemon", message)
            return CommandResult(ok=False, message=message)
        new, old = result.config, self.config
        assert old is not None
        await self._lvs_started.wait()  # a reload in the first moments reaches the LVS half too
        parts = []
        if self.lvs is not None:
            parts.append(self.lvs.reload(new))
        if vrrp_part(new) != vrrp_part(old):
            parts.append(await self._reload_vrrp(new))
        self.config = new
        self.reloads += 1
        message = "reloaded: " + "; ".join(parts or ["nothing changed"])
        log.info("%s", message)
        self.events.add("daemon", message)
        return CommandResult(ok=True, message=message)


def _describe(command: "Command") -> str:
    target = [x for x in (command.virtual_server, command.address) if x]
    if command.port is not None:
        target.append(str(command.port))
    if command.instance:
        target.append(command.instance)
    if command.weight is not None:
        target.append(f"weight {command.weight}")
    return " ".join(target)
