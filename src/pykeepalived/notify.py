"""Notify scripts and FIFOs: run keepalived's notify_* scripts without stalling anything.

Rules: asyncio glue (L3). Every script runs in a task of its own with a hard timeout (the whole
process group is killed when it expires), as the configured user, never through a shell (the
command line is split like a shell would, then executed). With ``enable_script_security`` a
script that a non-root user could change is refused while we run as root, as keepalived does.
A failing, hanging or missing script is logged; it never raises into the caller.
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

DEFAULT_TIMEOUT_S = 30.0


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
    timeout_s: float = DEFAULT_TIMEOUT_S
    _tasks: set[asyncio.Task[int | None]] = field(default_factory=set)

    def run(self, spec: ScriptSpec, *args: str, why: str = "") -> asyncio.Task[int | None]:
        """Start ``spec`` with extra ``args``; returns its task (exit code, None if it failed)."""
        task = asyncio.create_task(self._run(spec, list(args), why), name=f"script {spec.command}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _run(self, spec: ScriptSpec, args: list[str], why: str) -> int | None:
        try:
            argv = shlex.split(spec.command) + args
        except ValueError as exc:
            log.error("script '%s' cannot be parsed: %s", spec.command, exc)
            return None
        if not argv:
            return None
        if self.secure and os.geteuid() == 0:
            reason = insecure_reason(argv[0])
            if reason is not None:
                log.error("refusing to run %s (enable_script_security): %s", argv[0], reason)
                return None
        return await self._exec(spec, argv, why)

    async def _exec(self, spec: ScriptSpec, argv: Sequence[str], why: str) -> int | None:
        user = spec.username or self.default_user
        group = spec.groupname or self.default_group
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
                start_new_session=True,
                user=user if os.geteuid() == 0 else None,
                group=group if os.geteuid() == 0 else None,
            )
        except (OSError, ValueError, KeyError) as exc:
            log.error("cannot run script %s (%s): %s", argv[0], why or "notify", exc)
            return None
        try:
            async with asyncio.timeout(self.timeout_s):
                code = await proc.wait()
        except TimeoutError:
            log.error("script %s timed out after %.1f s; killed", argv[0], self.timeout_s)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
            return None
        if code != 0:
            log.warning("script %s (%s) exited with %d", argv[0], why or "notify", code)
        return code

    async def drain(self, timeout_s: float = 5.0) -> None:
        """Wait for running scripts (bounded), e.g. notify_stop at shutdown."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout_s)


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
