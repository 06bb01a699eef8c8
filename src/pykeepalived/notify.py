"""Notify scripts and FIFOs: run keepalived's notify_* scripts without stalling anything.

Rules: asyncio glue (L3). Every script runs in a task of its own, in a process group of its own,
as the configured user, never through a shell (the command line is split like a shell would,
then executed). With ``enable_script_security`` a script that a non-root user could change is
refused while we run as root, as keepalived does. A failing, hanging or missing script is
logged, naming it; it never raises into the caller and never delays VRRP.

Timeouts are keepalived's (``system_call_script`` in core/notify.c): a notify script runs as
long as it likes (keepalived's ``notify_exec`` sets no timer; we log once when one is still
running after ``SLOW_AFTER_S``); a script run for a STOP (``notify_stop``, ``notify ... STOP``,
LVS notifies at shutdown) is killed after ``STOP_TIMEOUT_S``, keepalived's ``TIMER_HZ``. At the
daemon's stop, ``stop()`` ends every script still running: SIGTERM to its process group
(keepalived's scripts get SIGTERM when it exits: ``PR_SET_PDEATHSIG``), SIGKILL one second
later (``script_killall`` then ``child_killed_thread``), so no child is left behind. A reload
neither waits for running scripts nor kills them.
"""

import asyncio
import contextlib
import logging
import os
import shlex
import signal
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field

log = logging.getLogger("pykeepalived.notify")

STOP_TIMEOUT_S = 1.0
SLOW_AFTER_S = 30.0


@dataclass(frozen=True, slots=True, kw_only=True)
class ScriptSpec:
    """A command line and who runs it (``notify_master "/bin/x arg" user group``)."""

    command: str
    username: str | None = None
    groupname: str | None = None


def insecure_reason(path: str) -> str | None:
    """Why ``path`` is unsafe to run as root: it or a parent directory is writable by others."""
    current = os.path.abspath(path)
    while True:
        try:
            info = os.stat(current)
        except OSError as exc:
            return f"{current}: {exc.strerror}"
        writable = info.st_uid != 0 or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
        sticky_dir = stat.S_ISDIR(info.st_mode) and info.st_mode & stat.S_ISVTX
        if writable and not sticky_dir:
            return f"{current} is writable by a non-root user"
        parent = os.path.dirname(current)
        if parent == current:
            return None
        current = parent


@dataclass
class ScriptRunner:
    secure: bool = False
    default_user: str | None = None
    default_group: str | None = None
    slow_after_s: float = SLOW_AFTER_S
    _tasks: set[asyncio.Task[int | None]] = field(default_factory=set)
    _running: dict[int, tuple[str, bool]] = field(default_factory=dict)
    """process group -> ("path (why)", whether it has a timeout of its own)"""

    def run(
        self,
        spec: ScriptSpec,
        *args: str,
        why: str = "",
        timeout_s: float | None = None,
        term_grace_s: float = 0.0,
    ) -> asyncio.Task[int | None]:
        """Start ``spec`` with extra ``args``; returns its task (exit code, None if it failed).
        ``timeout_s``: kill it then (STOP notifies); None lets it run, as keepalived does.
        ``term_grace_s``: at the timeout, SIGTERM first and SIGKILL that much later (keepalived's
        start/shutdown scripts: 2 s); 0: SIGKILL at once."""
        work = self._run(spec, list(args), why or "notify", (timeout_s, term_grace_s))
        task = asyncio.create_task(work, name=f"script {spec.command}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _run(
        self, spec: ScriptSpec, args: list[str], why: str, limits: tuple[float | None, float]
    ) -> int | None:
        timeout_s, grace_s = limits
        try:
            argv = shlex.split(spec.command) + args
        except ValueError as exc:
            log.error("script '%s' (%s) cannot be parsed: %s", spec.command, why, exc)
            return None
        if not argv:
            return None
        if self.secure and os.geteuid() == 0:
            reason = insecure_reason(argv[0])
            if reason is not None:
                log.error("refusing to run %s (%s, enable_script_security): %s", argv[0], why,
                          reason)  # fmt: skip
                return None
        proc = await self._spawn(spec, argv, why)
        if proc is None:
            return None
        name = f"{argv[0]} ({why})"
        self._running[proc.pid] = (name, timeout_s is not None)
        try:
            return await self._wait(proc, name, timeout_s, grace_s)
        finally:
            self._running.pop(proc.pid, None)

    async def _spawn(
        self, spec: ScriptSpec, argv: Sequence[str], why: str
    ) -> asyncio.subprocess.Process | None:
        user = spec.username or self.default_user
        group = spec.groupname or self.default_group
        try:
            return await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
                start_new_session=True,
                user=user if os.geteuid() == 0 else None,
                group=group if os.geteuid() == 0 else None,
            )
        except (OSError, ValueError, KeyError) as exc:
            log.error("cannot run script %s (%s): %s", argv[0], why, exc)
            return None

    async def _wait(
        self, proc: asyncio.subprocess.Process, name: str, timeout_s: float | None, grace_s: float
    ) -> int | None:
        limit = timeout_s if timeout_s is not None else self.slow_after_s
        try:
            async with asyncio.timeout(limit):
                code = await asyncio.shield(proc.wait())
        except TimeoutError:
            if timeout_s is None:
                log.warning("script %s still running after %g s", name, limit)
                code = await proc.wait()
            else:
                log.error("script %s timed out after %.1f s; killed", name, timeout_s)
                if grace_s > 0:
                    _signal_group(proc.pid, signal.SIGTERM)
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(grace_s):
                            await asyncio.shield(proc.wait())
                _signal_group(proc.pid, signal.SIGKILL)  # what it left behind, too
                await proc.wait()
                return None
        if code != 0:
            log.warning("script %s exited with %d", name, code)
        return code

    async def drain(self, timeout_s: float = 5.0) -> None:
        """Wait for running scripts (bounded)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout_s)

    async def stop(self, grace_s: float = STOP_TIMEOUT_S) -> None:
        """At the daemon's stop: scripts run for the stop get their own timeout; every other
        one gets SIGTERM now; whatever is left after ``grace_s`` gets SIGKILL."""
        for pgid, (name, bounded) in list(self._running.items()):
            if not bounded:
                log.warning("script %s still running at stop; terminating it", name)
                _signal_group(pgid, signal.SIGTERM)
        await self.drain(grace_s)
        for pgid, (name, _) in list(self._running.items()):
            log.error("script %s still running %.1f s after stop; killed", name, grace_s)
            _signal_group(pgid, signal.SIGKILL)
        await self.drain(grace_s)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


@dataclass
class NotifyFifo:
    """keepalived's notify_fifo: one line per event, e.g. ``INSTANCE "VI_1" MASTER 100``."""

    path: str

    def write(self, line: str) -> None:
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            log.warning("notify fifo %s: %s", self.path, exc.strerror)
            return
        try:
            os.write(fd, (line + "\n").encode())
        except OSError as exc:
            log.warning("notify fifo %s: %s", self.path, exc.strerror)
        finally:
            os.close(fd)


def instance_notify_args(kind: str, name: str, state: str, priority: int) -> tuple[str, ...]:
    """keepalived's arguments to a ``notify`` script: $1 type, $2 name, $3 state, $4 priority."""
    return (kind, name, state, str(priority))


def fifo_line(kind: str, name: str, state: str, priority: int) -> str:
    return f'{kind} "{name}" {state} {priority}'
