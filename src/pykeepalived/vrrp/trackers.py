"""Tracker drivers: vrrp_script runs and vrrp_track_file reads, fed to the VRRP node.

Rules: asyncio glue (L3) beside ``node``. What an observation *means* (weights, rise/fall,
FAULT) is the pure cores' business (``tracking``); here scripts are run and files are read,
and each result is handed to ``observe(kind, name, value)``. Only trackers some instance
uses are run, as keepalived does.

keepalived 2.2.7 (``vrrp_scheduler.c`` ``vrrp_script_thread``, ``trackers/track_file.c``):

- A vrrp_script runs every ``interval`` seconds (the next run is scheduled when one starts; a
  run still going when the next is due is skipped with keepalived's log line); ``timeout``
  defaults to ``interval``; a run past it is killed and counts as a failure ("timed_out").
  Exit 0 is success; rise/fall counting is ``tracking.ScriptResult``. It runs as its
  ``user``, else global ``script_user``; never through a shell.
- A tracked file's number is read with C ``strtol(buf, NULL, 0)`` (0 if the file is missing,
  empty or not a number); it is read at start and whenever it changes (inotify on its
  directory, plus a 1 s poll as a fallback). ``init_file`` creates it first.
- Link states of tracked interfaces go through ``interface_up_down_delays``
  (``link_delays.LinkDebounce``) before they are observed (:class:`LinkTracker`).
"""

import asyncio
import contextlib
import logging
import os
import re
import shlex
import shutil
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from pykeepalived.check.filewatch import FileWatcher
from pykeepalived.clock import Clock
from pykeepalived.config.model_common import RunAs
from pykeepalived.config.model_vrrp import VrrpScript, VrrpTrackFile
from pykeepalived.kernel.ports import LinkPort, LinkState
from pykeepalived.notify import insecure_reason
from pykeepalived.vrrp.link_delays import LinkDebounce
from pykeepalived.vrrp.tracking import Kind, ScriptResult, script_log

log = logging.getLogger("pykeepalived.vrrp")

Observe = Callable[[Kind, str, bool | int | None], Awaitable[None]]
POLL_S = 1.0
_STRTOL = re.compile(r"\s*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)")


def strtol0(text: str) -> int:
    """C ``strtol(text, NULL, 0)``: leading blanks, a sign, hex ``0x``, octal ``0``; 0 if none."""
    m = _STRTOL.match(text)
    if m is None:
        return 0
    sign, digits = m.groups()
    if digits.lower().startswith("0x"):
        value = int(digits, 16)
    elif digits.startswith("0"):
        value = int(digits, 8)
    else:
        value = int(digits)
    return -value if sign == "-" else value


def disabled_scripts(scripts: list[VrrpScript], *, secure: bool) -> set[str]:
    """keepalived ``check_vrrp_script_security``: a vrrp_script whose program is missing or
    not executable, or (with enable_script_security, as root) writable by a non-root user,
    is dropped from every instance's tracking, with keepalived's line."""
    disabled: set[str] = set()
    for s in scripts:
        try:
            argv = shlex.split(s.script or "")
        except ValueError:
            argv = []
        program = shutil.which(argv[0]) if argv else None
        if program is None:
            log.error("Disabling track script %s since not found/accessible", s.name)
            disabled.add(s.name)
        elif secure and os.geteuid() == 0 and insecure_reason(program) is not None:
            log.error("Disabling track script %s due to insecure", s.name)
            disabled.add(s.name)
    return disabled


@dataclass(frozen=True, slots=True, kw_only=True)
class RunOutcome:
    """One script run: ``status`` (exit code), ``signal`` (killed by), neither: timed out."""

    ok: bool
    status: int | None = None
    signal: int | None = None


@dataclass
class ScriptTracker:
    """Runs one vrrp_script forever (until ``stop``) and reports state changes."""

    script: VrrpScript
    observe: Observe
    secure: bool = False
    default_user: RunAs | None = None

    async def run(self, stop: asyncio.Event) -> None:
        s = self.script
        counter = ScriptResult(rise=s.rise, fall=s.fall, init_fail=s.init_fail)
        interval = max(s.interval, 0.01)
        limit_s = s.timeout if s.timeout else interval
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        running: asyncio.Task[None] | None = None
        while not stop.is_set():
            if running is not None and not running.done():
                log.info("Track script %s is already running, expect idle - skipping run", s.name)
            else:
                running = asyncio.create_task(
                    self._run_and_report(counter, limit_s), name=f"vrrp_script {s.name}"
                )
            next_at = max(next_at + interval, loop.time())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(next_at):
                    await stop.wait()
        if running is not None and not running.done():
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running

    async def _run_and_report(self, counter: ScriptResult, limit_s: float) -> None:
        outcome = await self._once(limit_s)
        changed = counter.record(outcome.ok)
        if changed is None:
            return
        name = self.script.name
        log.info("%s", script_log(name, changed, status=outcome.status, signal=outcome.signal))
        await self.observe(Kind.SCRIPT, name, changed)

    async def _once(self, limit_s: float) -> RunOutcome:
        s = self.script
        try:
            argv = shlex.split(s.script or "")
        except ValueError as exc:
            log.error("VRRP_Script(%s) cannot be parsed: %s", s.name, exc)
            return RunOutcome(ok=False, status=127)
        if not argv:
            return RunOutcome(ok=False, status=127)
        if self.secure and os.geteuid() == 0:
            reason = insecure_reason(argv[0])
            if reason is not None:
                log.error("VRRP_Script(%s) not run (enable_script_security): %s", s.name, reason)
                return RunOutcome(ok=False, status=126)
        return await _exec(argv, s.user or self.default_user, limit_s, s.name)


async def _exec(argv: list[str], who: RunAs | None, limit_s: float, name: str) -> RunOutcome:
    as_root = os.geteuid() == 0
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True,
            user=who.username if who is not None and as_root else None,
            group=who.groupname if who is not None and as_root else None,
        )
    except (OSError, ValueError, KeyError) as exc:
        log.error("VRRP_Script(%s) cannot run %s: %s", name, argv[0], exc)
        return RunOutcome(ok=False, status=127)
    try:
        try:
            async with asyncio.timeout(limit_s):
                code = await proc.wait()
        except TimeoutError:
            _killpg(proc.pid)
            await proc.wait()
            return RunOutcome(ok=False)
    except asyncio.CancelledError:
        _killpg(proc.pid)
        raise
    if code < 0:
        return RunOutcome(ok=False, signal=-code)
    return RunOutcome(ok=code == 0, status=code)


def _killpg(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


@dataclass
class FileTrackers:
    """Reads every used vrrp_track_file at start and on change; reports new numbers."""

    files: list[VrrpTrackFile]
    observe: Observe

    async def run(self, stop: asyncio.Event) -> None:
        paths = {f.name: f.file for f in self.files if f.file}
        for f in self.files:
            _init_file(f)
        last: dict[str, int] = {}
        changed = asyncio.Event()
        watcher = FileWatcher(list(paths.values()), lambda _path: changed.set())
        async with asyncio.TaskGroup() as tg:
            watch = tg.create_task(_watch(watcher, stop), name="vrrp-track-file-watch")
            while not stop.is_set():
                changed.clear()
                for name, path in paths.items():
                    value = _read_number(path)
                    if last.get(name) != value:
                        last[name] = value
                        await self.observe(Kind.FILE, name, value)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(POLL_S):
                        await _first(changed, stop)
            watch.cancel()


async def _watch(watcher: FileWatcher, stop: asyncio.Event) -> None:
    try:
        await watcher.run(stop)
    except OSError as exc:
        log.warning("track_file: no inotify (%s); polling every %.0f s", exc, POLL_S)


async def _first(a: asyncio.Event, b: asyncio.Event) -> None:
    waits = [asyncio.ensure_future(a.wait()), asyncio.ensure_future(b.wait())]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()


def _read_number(path: str) -> int:
    try:
        with open(path, "rb") as f:
            data = f.read(127)
    except OSError:
        return 0
    return strtol0(data.decode(errors="replace"))


def _init_file(f: VrrpTrackFile) -> None:
    """``init_file [VALUE] [overwrite]``: write VALUE unless the file exists (or overwrite)."""
    if f.init_file is None or not f.file:
        return
    if os.path.exists(f.file) and not f.init_file.overwrite:
        return
    try:
        with open(f.file, "w") as out:
            out.write(f"{f.init_file.value}\n")
    except OSError as exc:
        log.warning("track_file %s: cannot create %s: %s", f.name, f.file, exc.strerror)


@dataclass
class LinkTracker:
    """Observes the watched links' states: read at start, then every notification, each
    through the interfaces' up/down delays (a delayed change is observed when its timer
    fires, unless the link went back first)."""

    links: LinkPort
    names: set[str]
    debounce: LinkDebounce
    clock: Clock
    observe: Observe

    async def run(self) -> None:
        for ifname in sorted(self.names):
            up = await self.links.is_up(ifname)
            self.debounce.initial(ifname, up)
            await self.observe(Kind.INTERFACE, ifname, up)
        queue: asyncio.Queue[LinkState] = asyncio.Queue()
        pump = asyncio.create_task(self._pump(queue), name="vrrp-link-watch")
        try:
            while True:
                state = await self._next(queue, pump)
                now = self.clock.now()
                if state is not None:
                    step = self.debounce.change(state.ifname, state.up, now)
                    if step.note is not None:
                        log.info("%s", step.note)
                    if step.act is not None:
                        await self.observe(Kind.INTERFACE, state.ifname, step.act)
                for ifname, up in self.debounce.due(now):
                    log.info("%s: delayed change to %s applied", ifname, "up" if up else "down")
                    await self.observe(Kind.INTERFACE, ifname, up)
        finally:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump

    async def _pump(self, queue: "asyncio.Queue[LinkState]") -> None:
        async for state in self.links.watch():
            if state.ifname in self.names:
                queue.put_nowait(state)

    async def _next(
        self, queue: "asyncio.Queue[LinkState]", pump: "asyncio.Task[None]"
    ) -> LinkState | None:
        """The next notification, or None when a delay is due first; the watch's error (or
        its end) is raised here."""
        due = self.debounce.next_due()
        timeout = None if due is None else max(0.0, due - self.clock.now())
        get = asyncio.ensure_future(queue.get())
        try:
            await asyncio.wait({get, pump}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            get.cancel()
        if get.done() and not get.cancelled():
            return get.result()
        if pump.done():
            pump.result()
            raise RuntimeError("the link watch ended")
        return None
