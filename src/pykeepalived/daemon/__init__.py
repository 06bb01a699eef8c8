"""The daemon: one asyncio process running VRRP, the health checkers and the LVS control.

Rules: L4. It loads the config (refusing one with errors), supervises the VRRP and LVS halves
in one TaskGroup, turns signals into events (SIGTERM/SIGINT: graceful stop; SIGHUP: reload)
and never picks a concrete adapter itself: the composition root (``cli``) hands it factories.
"""

import asyncio
import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass

from pykeepalived.clock import Clock
from pykeepalived.config.loader import LoadResult
from pykeepalived.config.model import KeepalivedConfig
from pykeepalived.daemon.lvs_side import LvsSide
from pykeepalived.kernel.dataplane import DataPlane
from pykeepalived.notify import ScriptRunner
from pykeepalived.vrrp.node import VrrpNode, VrrpPorts

log = logging.getLogger("pykeepalived")


@dataclass(frozen=True, slots=True, kw_only=True)
class DaemonOptions:
    run_vrrp: bool = True
    run_checkers: bool = True
    log_detail: bool = False


@dataclass
class Adapters:
    """Factories of real (or, in tests, alternative) adapters, chosen by the caller."""

    load: Callable[[], LoadResult]
    vrrp_ports: Callable[[KeepalivedConfig, ScriptRunner], VrrpPorts]
    dataplane: Callable[[KeepalivedConfig], DataPlane]
    clock: Clock


class Daemon:
    def __init__(self, options: DaemonOptions, adapters: Adapters) -> None:
        self.options = options
        self.adapters = adapters
        self.stop_event = asyncio.Event()
        self.vrrp: VrrpNode | None = None
        self.lvs: LvsSide | None = None

    async def run(self) -> int:
        result = self.adapters.load()
        for diagnostic in result.diagnostics:
            (log.error if diagnostic.is_error else log.warning)("%s", diagnostic.render())
        if not result.ok or result.config is None:
            log.error("configuration has errors; not starting")
            return 1
        config = result.config
        self._install_signals()
        g = config.global_defs
        scripts = ScriptRunner(
            secure=g.enable_script_security,
            default_user=g.script_user.username if g.script_user else None,
            default_group=g.script_user.groupname if g.script_user else None,
        )
        log.info("Starting pykeepalived (VRRP %s, checkers %s)",
                 "on" if self.options.run_vrrp else "off",
                 "on" if self.options.run_checkers else "off")  # fmt: skip
        async with asyncio.TaskGroup() as tg:
            if self.options.run_vrrp and config.vrrp_instance:
                ports = self.adapters.vrrp_ports(config, scripts)
                self.vrrp = VrrpNode(config, ports, log_detail=self.options.log_detail)
                tg.create_task(self.vrrp.run(self.stop_event), name="vrrp")
            if self.options.run_checkers and config.virtual_server:
                dataplane = self.adapters.dataplane(config)
                self.lvs = LvsSide(config, dataplane, scripts, self.adapters.clock)
                tg.create_task(self.lvs.run(self.stop_event), name="lvs")
        log.info("Stopped pykeepalived")
        return 0

    def _install_signals(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stop, sig)
        loop.add_signal_handler(signal.SIGHUP, self._reload)

    def _stop(self, sig: signal.Signals) -> None:
        log.info("Received %s, stopping", sig.name)
        self.stop_event.set()

    def _reload(self) -> None:
        log.warning("Reload (SIGHUP) is not implemented yet; keeping the running configuration")
