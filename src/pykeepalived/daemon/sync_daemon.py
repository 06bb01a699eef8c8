"""lvs_sync_daemon and lvs_timeouts: the kernel's IPVS connection sync follows VRRP.

Rules: L4 glue. As keepalived does, the sync daemon named by ``global_defs lvs_sync_daemon
<INTERFACE> <VRRP_INSTANCE>`` runs as *master* while that instance is MASTER (it multicasts
the connection table) and as *backup* otherwise (it receives it), so that established
connections survive a failover. Only the IPVS backend has this; with nftables it is logged and
skipped. ``lvs_timeouts`` are set once at start.
"""

import asyncio
import logging
from collections.abc import Awaitable

from pykeepalived.config.model import KeepalivedConfig
from pykeepalived.errors import KernelError
from pykeepalived.kernel.dataplane import ConnectionSync, DataPlane
from pykeepalived.kernel.ipvs_msg import sync_daemon_from_config, timeouts_from_config

log = logging.getLogger("pykeepalived.lvs")


class SyncDaemonSwitch:
    def __init__(self, config: KeepalivedConfig, dataplane: DataPlane) -> None:
        self.config = config
        self.dataplane = dataplane
        self.running: str | None = None
        self.started = False
        self.vrrp_state = "BACKUP"
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def wanted(self) -> bool:
        return self.config.global_defs.lvs_sync_daemon is not None

    async def start(self) -> None:
        g = self.config.global_defs
        if not isinstance(self.dataplane, ConnectionSync):
            if self.wanted or g.lvs_timeouts is not None:
                log.warning("lvs_sync_daemon/lvs_timeouts need IPVS; the %s data plane has "
                            "no connection sync", self.dataplane.info.name)  # fmt: skip
            return
        if g.lvs_timeouts is not None:
            await self._guard(self.dataplane.set_timeouts(timeouts_from_config(g.lvs_timeouts)))
        self.started = True
        if self.wanted:
            await self.switch(self.vrrp_state)

    def on_transition(self, instance: str, state: str) -> None:
        sync = self.config.global_defs.lvs_sync_daemon
        if sync is None or sync.vrrp_instance not in (None, instance):
            return
        self.vrrp_state = state
        if not self.started:
            return  # start() switches to the state seen by then
        task = asyncio.get_running_loop().create_task(self.switch(state), name="sync-daemon")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def switch(self, vrrp_state: str) -> None:
        sync = self.config.global_defs.lvs_sync_daemon
        if sync is None or not isinstance(self.dataplane, ConnectionSync):
            return
        role = "master" if vrrp_state == "MASTER" else "backup"
        if role == self.running:
            return
        if self.running is not None:
            await self._guard(self.dataplane.stop_sync_daemon(self.running))
        vrid = self._vrid(sync.vrrp_instance)
        daemon = sync_daemon_from_config(sync, role, vrid)
        if await self._guard(self.dataplane.start_sync_daemon(daemon)):
            self.running = role
            log.info("IPVS sync daemon: %s on %s (syncid %d)", role, daemon.interface,
                     daemon.syncid)  # fmt: skip

    async def stop(self) -> None:
        if self.running is not None and isinstance(self.dataplane, ConnectionSync):
            await self._guard(self.dataplane.stop_sync_daemon(self.running))
            self.running = None

    def _vrid(self, name: str | None) -> int | None:
        for inst in self.config.vrrp_instance:
            if inst.name == name:
                return inst.virtual_router_id
        return None

    @staticmethod
    async def _guard(call: Awaitable[None]) -> bool:
        try:
            await call
        except KernelError as exc:
            log.error("IPVS sync/timeouts: %s", exc)
            return False
        return True
