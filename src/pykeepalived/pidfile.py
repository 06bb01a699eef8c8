"""keepalived's pid files (-p, -r, -c): written at start, removed at exit, and a guard against a
second daemon on the same files.

Why this matters: operators and init scripts stop keepalived with ``kill -TERM $(cat PIDFILE)``
and test "is it running" from the same files; pykeepalived must answer them the same way.
keepalived 2.2.7 (core/pidfile.c, core/main.c), which this follows:

* before forking, each pid file of a part that will run (main always, VRRP unless -C, checkers
  unless -P) is read: a live pid in it means "daemon is already running" and the start stops
  there; a file whose pid is gone is a zombie and is removed;
* each file is written ``<pid>\\n``, mode 0644, opened with O_NOFOLLOW (a symlink planted in
  place of a pid file is refused, not followed);
* they are removed at exit, after the graceful stop.

pykeepalived is one process: the VRRP and checker files hold the same pid as the main one, so a
signal to any of them reaches the daemon.
"""

import contextlib
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass

log = logging.getLogger("pykeepalived")

PID_MODE = 0o644


class PidFileError(OSError):
    """A pid file cannot be written; the message names the file and the reason."""


@dataclass(frozen=True, slots=True)
class PidFiles:
    """The pid files of one daemon: ``main`` (-p), ``vrrp`` (-r), ``checkers`` (-c)."""

    main: str | None = None
    vrrp: str | None = None
    checkers: str | None = None

    def for_parts(self, *, run_vrrp: bool, run_checkers: bool) -> list[str]:
        """The files this start owns, as absolute paths (the daemon changes to / when it
        forks): as keepalived, a part that does not run has none."""
        owned = [
            self.main,
            self.vrrp if run_vrrp else None,
            self.checkers if run_checkers else None,
        ]
        return list(dict.fromkeys(os.path.abspath(p) for p in owned if p))


def pid_in(path: str) -> int | None:
    """The pid a pid file names, or None when the file is missing or does not hold one."""
    try:
        with open(path) as f:
            text = f.read(64)
    except OSError:
        return None
    word = text.split()[0] if text.split() else ""
    return int(word) if word.isdigit() and int(word) > 0 else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def running_pid(paths: Sequence[str]) -> int | None:
    """The pid of a live daemon named in one of ``paths``; zombie files are removed on the way.

    Our own pid does not count (a pid file left by a previous process that had our pid).
    """
    for path in paths:
        if not os.path.lexists(path):
            continue
        pid = pid_in(path)
        if pid is not None and pid != os.getpid() and _alive(pid):
            return pid
        log.warning("Remove a zombie pid file %s", path)  # logging is not set up yet: stderr
        remove([path])
    return None


def write(paths: Sequence[str], pid: int | None = None) -> None:
    """Write ``pid`` (default: ours) into each file; PidFileError names the first that fails."""
    text = f"{os.getpid() if pid is None else pid}\n".encode()
    old_umask = os.umask(0o022)
    try:
        for path in paths:
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, PID_MODE)
            except OSError as exc:
                message = f"cannot write pid file {path}: {exc.strerror}"
                raise PidFileError(exc.errno, message) from exc
            with os.fdopen(fd, "wb") as f:
                f.write(text)
    finally:
        os.umask(old_umask)


def remove(paths: Sequence[str]) -> None:
    """Remove the files; a file already gone is not an error."""
    for path in paths:
        with contextlib.suppress(OSError):
            os.unlink(path)
