"""Tell FILE_CHECK at once when a tracked file changes (Linux inotify), as keepalived does.

Rules: an asyncio driver, nothing more: it watches the *directories* holding the files (so a
file that is created, replaced by rename or deleted is seen too), filters by name, and calls
``on_change(path)``; what a change means is the probe's and the hysteresis' business. The
runner's ``poke`` is the intended callback. Without inotify (not Linux) ``run`` raises OSError
and the caller relies on the checks' delay_loop polling alone.

inotify is reached through ctypes: the standard library has no binding and a dependency for
three system calls is not worth it.
"""

import asyncio
import ctypes
import os
import struct
from collections.abc import Callable, Iterable
from pathlib import Path

IN_CLOSE_WRITE = 0x008
IN_MOVED_FROM = 0x040
IN_MOVED_TO = 0x080
IN_CREATE = 0x100
IN_DELETE = 0x200
IN_Q_OVERFLOW = 0x4000
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = 0o2000000
WATCH_MASK = IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE
_EVENT = struct.Struct("iIII")  # wd, mask, cookie, len; then len bytes of NUL-padded name


def parse_events(buf: bytes) -> list[tuple[int, int, str]]:
    """Raw inotify records -> (wd, mask, name) triples."""
    out = []
    offset = 0
    while offset + _EVENT.size <= len(buf):
        wd, mask, _, length = _EVENT.unpack_from(buf, offset)
        start = offset + _EVENT.size
        name = buf[start : start + length].rstrip(b"\0").decode(errors="surrogateescape")
        out.append((wd, mask, name))
        offset = start + length
    return out


class FileWatcher:
    """Watch files by their directories; call ``on_change(path)`` for each change."""

    def __init__(self, paths: Iterable[str], on_change: Callable[[str], None]) -> None:
        self._on_change = on_change
        self._by_dir: dict[str, dict[str, str]] = {}  # dir -> basename -> path as given
        for path in paths:
            p = Path(path).absolute()
            self._by_dir.setdefault(str(p.parent), {})[p.name] = path
        self._dirs: dict[int, str] = {}  # wd -> dir

    async def run(self, stop: asyncio.Event) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        fd = libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        loop = asyncio.get_running_loop()
        try:
            for directory in self._by_dir:
                wd = libc.inotify_add_watch(fd, os.fsencode(directory), WATCH_MASK)
                if wd < 0:
                    raise OSError(ctypes.get_errno(), f"inotify_add_watch {directory}")
                self._dirs[wd] = directory
            loop.add_reader(fd, self._readable, fd)
            try:
                await stop.wait()
            finally:
                loop.remove_reader(fd)
        finally:
            os.close(fd)

    def _readable(self, fd: int) -> None:
        try:
            buf = os.read(fd, 64 * 1024)
        except BlockingIOError:
            return
        changed: list[str] = []
        for wd, mask, name in parse_events(buf):
            if mask & IN_Q_OVERFLOW:  # events were lost: everything may have changed
                changed.extend(p for files in self._by_dir.values() for p in files.values())
                continue
            path = self._by_dir.get(self._dirs.get(wd, ""), {}).get(name)
            if path is not None:
                changed.append(path)
        for path in dict.fromkeys(changed):  # once each, in order
            self._on_change(path)
