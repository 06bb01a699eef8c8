"""The vrrp_track_process driver: process events (or /proc polls) to ``Kind.PROCESS``
observations.

Rules: asyncio glue (L3) beside ``trackers``. It reads /proc and the process connector through
``kernel.proc_watch``, feeds ``proc_tracking.ProcessCounts`` (the pure rules: matching,
quorum, delays) and hands every status change to ``observe``. It must never take the daemon
down: anything the kernel refuses is logged and the tracker falls back to polling /proc.

keepalived 2.2.7 (``core/track_process.c``) reads /proc once at start, then follows the
process connector, and reads /proc again (after 1 s) when the connector dropped events. It has
no polling: without ``CONFIG_PROC_EVENTS`` track_process is refused. We poll /proc every
``POLL_S`` seconds instead, when the connector is unavailable (no kernel support, not root, or
not the initial network namespace: a daemon run by ``ip netns exec``) or when global_defs has
``vrrp_track_process_use_polling`` (our keyword; keepalived does not know it).
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pykeepalived.clock import Clock
from pykeepalived.errors import KernelError
from pykeepalived.kernel.proc_watch import (
    Execed,
    Exited,
    Forked,
    Lost,
    ProcConnector,
    ProcEvent,
    Renamed,
    read_proc,
    scan_proc,
)
from pykeepalived.vrrp.proc_tracking import ProcessCounts, ProcessSpec, QuorumChange
from pykeepalived.vrrp.tracking import Kind

log = logging.getLogger("pykeepalived.vrrp")

Observe = Callable[[Kind, str, bool | int | None], Awaitable[None]]
POLL_S = 1.0
LOST_SETTLE_S = 0.1  # after an overflow, let the burst pass before reading /proc


@dataclass
class ProcessTracker:
    """Every used vrrp_track_process of one daemon, watched together."""

    specs: list[ProcessSpec]
    observe: Observe
    clock: Clock
    polling: bool = False
    poll_s: float = POLL_S
    counts: ProcessCounts = field(init=False)
    mode: str = field(init=False, default="none")  # "events" or "polling", once running

    def __post_init__(self) -> None:
        self.counts = ProcessCounts(self.specs)

    def initial(self) -> list[QuorumChange]:
        """Read /proc now (before any instance starts) and give every tracker its status."""
        try:
            procs = scan_proc(cmdline=self.counts.uses_cmdline)
        except OSError as exc:
            log.error("track_process: cannot read /proc: %s", exc)
            return []
        return self._logged(self.counts.rescan(procs, self.clock.now(), initial=True))

    async def run(self, stop: asyncio.Event) -> None:
        if not self.polling:
            connector = ProcConnector()
            try:
                await connector.open()
            except KernelError as exc:
                log.warning("track_process: %s; polling /proc every %g s", exc, self.poll_s)
            else:
                try:
                    self.mode = "events"
                    await self._follow(connector, stop)
                    return
                except OSError as exc:
                    log.error("track_process: process events failed (%s); polling /proc", exc)
                except Exception:  # a bug here must not take the VRRP daemon down
                    log.exception("track_process: process events failed; polling /proc")
                finally:
                    connector.close()
        self.mode = "polling"
        await self._poll(stop)

    async def _follow(self, connector: ProcConnector, stop: asyncio.Event) -> None:
        """Events from the connector; /proc is reread once subscribed (what started or ended
        since the initial read) and after every overflow."""
        await self._rescan()
        stopping = asyncio.ensure_future(stop.wait())
        recv: asyncio.Future[ProcEvent] | None = None
        try:
            while not stopping.done():
                if recv is None:
                    recv = asyncio.ensure_future(connector.next_event())
                waits: list[asyncio.Future[Any]] = [recv, stopping]
                await asyncio.wait(
                    waits, timeout=self._wait_s(), return_when=asyncio.FIRST_COMPLETED
                )
                if recv.done():
                    event, recv = recv.result(), None  # OSError: the caller falls back
                    await self._on_event(event)
                await self._emit(self.counts.on_timer(self.clock.now()))
        finally:
            stopping.cancel()
            if recv is not None:
                recv.cancel()

    async def _on_event(self, event: ProcEvent) -> None:
        now = self.clock.now()
        if isinstance(event, Lost):
            log.warning("track_process: process events were lost; rereading /proc")
            await asyncio.sleep(LOST_SETTLE_S)
            await self._rescan()
        elif isinstance(event, Forked):
            await self._emit(self.counts.fork(event.parent, event.child, now))
        elif isinstance(event, Exited):
            await self._emit(self.counts.exit(event.pid, now))
        elif isinstance(event, Renamed):
            await self._emit(self.counts.renamed(event.pid, event.comm, now))
        elif isinstance(event, Execed):
            proc = read_proc(event.pid, cmdline=self.counts.uses_cmdline)
            if proc is not None:  # gone already: its exit event follows
                await self._emit(self.counts.exec(event.pid, proc, now))

    async def _poll(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        next_scan = loop.time()
        while not stop.is_set():
            if loop.time() >= next_scan:
                await self._rescan()
                next_scan = loop.time() + self.poll_s
            await self._emit(self.counts.on_timer(self.clock.now()))
            wait = min(next_scan - loop.time(), self._wait_s() or self.poll_s)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(wait, 0.0)):
                    await stop.wait()

    async def _rescan(self) -> None:
        """A full /proc read, off the event loop (thousands of processes take a while)."""
        try:
            procs = await asyncio.to_thread(scan_proc, cmdline=self.counts.uses_cmdline)
        except OSError as exc:
            log.error("track_process: cannot read /proc: %s", exc)
            return
        await self._emit(self.counts.rescan(procs, self.clock.now()))

    def _wait_s(self) -> float | None:
        due = self.counts.next_deadline()
        return None if due is None else max(due - self.clock.now(), 0.0)

    async def _emit(self, changes: list[QuorumChange]) -> None:
        for change in self._logged(changes):
            await self.observe(Kind.PROCESS, change.name, change.up)

    @staticmethod
    def _logged(changes: list[QuorumChange]) -> list[QuorumChange]:
        for change in changes:
            log.info("%s", change.log_line())
        return changes
