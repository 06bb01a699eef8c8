"""The driver's tracking: link states, vrrp_script results, tracked files and processes to the
cores.

Rules: asyncio glue (L3), used by ``node`` only. It owns each instance's ``InstanceTracking``
(the pure rules of ``tracking``), which links are watched, which vrrp_scripts keepalived would
drop, starting the trackers (``trackers``) and handing every observation's verdict to the
instance's unit. Link states as they are at start are applied before any instance starts. It
must not know sockets, adverts, timers or how actions are performed (``perform``).
"""

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from pykeepalived.clock import Clock
from pykeepalived.config.model import KeepalivedConfig
from pykeepalived.config.model_vrrp import VrrpInstance
from pykeepalived.kernel.ports import LinkPort
from pykeepalived.vrrp.from_config import (
    link_delays,
    process_polling,
    tracks,
    used_files,
    used_processes,
    used_scripts,
)
from pykeepalived.vrrp.group import Tagged
from pykeepalived.vrrp.instance import Instance
from pykeepalived.vrrp.link_delays import LinkDebounce
from pykeepalived.vrrp.process_tracker import ProcessTracker
from pykeepalived.vrrp.trackers import FileTrackers, LinkTracker, ScriptTracker, disabled_scripts
from pykeepalived.vrrp.tracking import InstanceTracking, Kind, apply_verdict
from pykeepalived.vrrp.units import Unit


@dataclass
class NodeTracking:
    """One node's tracking, over the node's own tables (shared, filled as it builds)."""

    config: KeepalivedConfig
    links: LinkPort
    clock: Clock
    cores: dict[str, Instance]
    unit_of: dict[str, Unit]
    lock: asyncio.Lock
    wake: asyncio.Event  # set after an observation: the timers are due again
    perform: Callable[[list[Tagged]], Awaitable[None]]
    trackings: dict[str, InstanceTracking] = field(default_factory=dict)
    watched_links: set[str] = field(default_factory=set)
    disabled: set[str] = field(default_factory=set)  # vrrp_scripts keepalived would drop
    processes: ProcessTracker | None = None  # the used vrrp_track_processes, if any

    def drop_disabled(self) -> None:
        """Before any instance is added: the vrrp_scripts that script security refuses are
        neither run nor tracked (keepalived drops them)."""
        secure = self.config.global_defs.enable_script_security
        self.disabled = disabled_scripts(used_scripts(self.config), secure=secure)

    def add(self, inst: VrrpInstance, *, in_sync_group: bool) -> None:
        entries = [
            t
            for t in tracks(inst, self.config, in_sync_group=in_sync_group)
            if not (t.kind is Kind.SCRIPT and t.name in self.disabled)
        ]
        self.trackings[inst.name] = InstanceTracking(inst.priority, entries)
        self.watched_links |= {t.name for t in entries if t.kind is Kind.INTERFACE}

    async def initial(self) -> None:
        """Link states as they are now, applied before any instance starts (keepalived starts
        an instance whose tracked interface is down in FAULT; a weight-0 script without a
        result yet holds it there too). Tracked processes are counted from /proc here."""
        for ifname in sorted(self.watched_links):
            up = await self.links.is_up(ifname)
            for tracking in self.trackings.values():
                tracking.observe(Kind.INTERFACE, ifname, up)
        processes = self._process_tracker()
        for change in processes.initial() if processes is not None else []:
            for tracking in self.trackings.values():
                tracking.observe(Kind.PROCESS, change.name, change.up)
        now = self.clock.now()
        for name, tracking in self.trackings.items():
            apply_verdict(self.cores[name], tracking.verdict(), now)  # INIT: no actions

    def start_trackers(self, tg: asyncio.TaskGroup, stop: asyncio.Event) -> None:
        g = self.config.global_defs
        for script in used_scripts(self.config):
            if script.name in self.disabled:
                continue
            tracker = ScriptTracker(
                script, self.observe, secure=g.enable_script_security, default_user=g.script_user
            )
            tg.create_task(tracker.run(stop), name=f"vrrp-script-{script.name}")
        files = used_files(self.config)
        if files:
            tg.create_task(FileTrackers(files, self.observe).run(stop), name="vrrp-track-files")
        if self.processes is not None:
            tg.create_task(self.processes.run(stop), name="vrrp-track-processes")

    def _process_tracker(self) -> ProcessTracker | None:
        """Built once, at the initial read; None when no instance tracks a process."""
        if self.processes is None:
            specs = used_processes(self.config)
            if specs:
                polling = process_polling(self.config)
                self.processes = ProcessTracker(specs, self.observe, self.clock, polling=polling)
        return self.processes

    async def watch_links(self, stop: asyncio.Event) -> None:
        if not self.watched_links:
            await stop.wait()
            return
        debounce = LinkDebounce(link_delays(self.config))
        links = LinkTracker(self.links, self.watched_links, debounce, self.clock, self.observe)
        await links.run()

    async def observe(self, kind: Kind, name: str, value: bool | int | None) -> None:
        """A tracker observation (script result, link state, file value) for every instance."""
        async with self.lock:
            now = self.clock.now()
            for inst_name, tracking in self.trackings.items():
                verdict = tracking.observe(kind, name, value)
                if verdict is not None:
                    unit = self.unit_of[inst_name]
                    await self.perform(unit.apply_verdict(inst_name, verdict, now))
        self.wake.set()
