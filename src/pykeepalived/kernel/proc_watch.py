"""Process starts and exits: the netlink process connector, and /proc reads.

Rules: kernel side only. ``read_proc`` and ``scan_proc`` read /proc (``/proc/PID/stat`` for the
name, state and parent; ``/proc/PID/cmdline`` only when asked: it maps the process's memory and
may have to be swapped in, which is why keepalived avoids it too). ``ProcConnector`` subscribes
to the kernel's process events (``CONFIG_PROC_EVENTS``, root) and yields them, already decoded
by the pure ``parse_event``. What a process *means* to a tracker is not known here.

The connector only exists in the initial network namespace: a socket opened in another one is
refused (ECONNREFUSED on the subscribe), so a daemon run inside ``ip netns exec`` falls back to
polling (its driver's business). Messages (include/uapi/linux/connector.h, cn_proc.h)::

    nlmsghdr (16) | cn_msg: idx u32, val u32, seq u32, ack u32, len u16, flags u16 (20)
    | proc_event: what u32, cpu u32, timestamp_ns u64, then per ``what``:
      FORK   parent_pid, parent_tgid, child_pid, child_tgid (i32 each)
      EXEC   process_pid, process_tgid
      COMM   process_pid, process_tgid, comm[16]
      EXIT   process_pid, process_tgid, exit_code, exit_signal, ...
"""

import asyncio
import contextlib
import errno
import os
import socket
import struct
from dataclasses import dataclass

from pykeepalived.errors import KernelError

NETLINK_CONNECTOR = 11
CN_IDX_PROC = CN_VAL_PROC = 1
PROC_CN_MCAST_LISTEN, PROC_CN_MCAST_IGNORE = 1, 2
NLMSG_DONE = 3
PROC_EVENT_NONE, PROC_EVENT_FORK, PROC_EVENT_EXEC = 0x0, 0x1, 0x2
PROC_EVENT_COMM, PROC_EVENT_EXIT = 0x200, 0x80000000
_HEAD = 16 + 20  # nlmsghdr + cn_msg
_DATA = _HEAD + 16  # + what, cpu, timestamp
ACK_WAIT_S = 1.0


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcEntry:
    """One live process: its name (comm), arguments (empty when not read) and parent."""

    comm: str
    argv: tuple[str, ...] = ()
    ppid: int = 0


def read_proc(pid: int, *, cmdline: bool, root: str = "/proc") -> ProcEntry | None:
    """``pid`` as /proc shows it now; None if it is gone, a zombie or unreadable."""
    try:
        with open(f"{root}/{pid}/stat", "rb") as f:
            stat = f.read(512)
        argv: tuple[str, ...] = ()
        if cmdline:
            with open(f"{root}/{pid}/cmdline", "rb") as f:
                argv = split_cmdline(f.read(65536))
    except OSError:
        return None
    return parse_stat(stat, argv)


def parse_stat(stat: bytes, argv: tuple[str, ...] = ()) -> ProcEntry | None:
    """``/proc/PID/stat``: "pid (comm) state ppid ..."; comm may hold spaces and brackets,
    so it ends at the *last* ")"."""
    start, end = stat.find(b"("), stat.rfind(b")")
    if start < 0 or end < start:
        return None
    rest = stat[end + 1 :].split()
    if len(rest) < 2 or rest[0] == b"Z" or not rest[1].isdigit():
        return None  # zombies are not running (keepalived skips them too)
    comm = stat[start + 1 : end].decode(errors="surrogateescape")
    return ProcEntry(comm=comm, argv=argv, ppid=int(rest[1]))


def split_cmdline(raw: bytes) -> tuple[str, ...]:
    """NUL-separated arguments (the last one NUL-terminated); kernel threads have none."""
    if raw.endswith(b"\0"):
        raw = raw[:-1]
    if not raw:
        return ()
    return tuple(a.decode(errors="surrogateescape") for a in raw.split(b"\0"))


def scan_proc(*, cmdline: bool, root: str = "/proc") -> dict[int, ProcEntry]:
    """Every live process (not threads, not zombies)."""
    out: dict[int, ProcEntry] = {}
    with os.scandir(root) as entries:
        for entry in entries:
            if not entry.name.isdigit():
                continue
            proc = read_proc(int(entry.name), cmdline=cmdline, root=root)
            if proc is not None:
                out[int(entry.name)] = proc
    return out


@dataclass(frozen=True, slots=True)
class Forked:
    parent: int
    child: int


@dataclass(frozen=True, slots=True)
class Execed:
    pid: int


@dataclass(frozen=True, slots=True)
class Renamed:
    pid: int
    comm: str


@dataclass(frozen=True, slots=True)
class Exited:
    pid: int


@dataclass(frozen=True, slots=True)
class Lost:
    """The socket's buffer overflowed (ENOBUFS): events were dropped, /proc must be reread."""


ProcEvent = Forked | Execed | Renamed | Exited | Lost


def parse_event(data: bytes) -> ProcEvent | None:
    """One connector datagram; None for acks, threads and what trackers do not need."""
    if len(data) < _DATA:
        return None
    idx, val = struct.unpack_from("=II", data, 16)
    if (idx, val) != (CN_IDX_PROC, CN_VAL_PROC):
        return None
    (what,) = struct.unpack_from("=I", data, _HEAD)
    body = data[_DATA:]
    if what == PROC_EVENT_FORK and len(body) >= 16:
        _ppid, parent, child_pid, child = struct.unpack_from("=iiii", body)
        return Forked(parent, child) if child_pid == child else None  # a thread otherwise
    if what in (PROC_EVENT_EXEC, PROC_EVENT_EXIT) and len(body) >= 8:
        pid, tgid = struct.unpack_from("=ii", body)
        if pid != tgid:
            return None
        return Execed(pid) if what == PROC_EVENT_EXEC else Exited(pid)
    if what == PROC_EVENT_COMM and len(body) >= 24:
        pid, tgid = struct.unpack_from("=ii", body)
        comm = body[8:24].split(b"\0", 1)[0].decode(errors="surrogateescape")
        return Renamed(pid, comm) if pid == tgid else None
    return None


def _is_ack(data: bytes) -> bool:
    return len(data) >= _DATA and struct.unpack_from("=I", data, _HEAD)[0] == PROC_EVENT_NONE


def subscribe_message(listen: bool) -> bytes:
    op = struct.pack("=I", PROC_CN_MCAST_LISTEN if listen else PROC_CN_MCAST_IGNORE)
    cn = struct.pack("=IIIIHH", CN_IDX_PROC, CN_VAL_PROC, 0, 0, len(op), 0) + op
    return struct.pack("=IHHII", 16 + len(cn), NLMSG_DONE, 0, 0, 0) + cn


class ProcConnector:
    """A subscription to the process connector (one socket, opened by :meth:`open`)."""

    def __init__(self, rcvbuf: int = 1 << 20) -> None:
        self._rcvbuf = rcvbuf
        self._sock: socket.socket | None = None

    async def open(self) -> None:
        """Subscribe and wait for the kernel's acknowledgement: without it (no
        CONFIG_PROC_EVENTS, or not the initial network namespace) raise KernelError."""
        try:
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_CONNECTOR)
        except OSError as exc:
            raise KernelError(f"no process connector: {exc.strerror}") from exc
        try:
            sock.setblocking(False)
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self._rcvbuf)
            sock.bind((0, CN_IDX_PROC))
            sock.send(subscribe_message(True))
            await self._wait_ack(sock)
        except (OSError, TimeoutError) as exc:
            sock.close()
            why = exc.strerror if isinstance(exc, OSError) else "no acknowledgement"
            raise KernelError(f"process events unavailable: {why}") from exc
        self._sock = sock

    @staticmethod
    async def _wait_ack(sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(ACK_WAIT_S):
            while not _is_ack(await loop.sock_recv(sock, 4096)):
                pass

    async def next_event(self) -> ProcEvent:
        """The next event a tracker needs; :class:`Lost` after an overflow. OSError: the
        socket broke."""
        assert self._sock is not None, "open() first"
        loop = asyncio.get_running_loop()
        while True:
            try:
                data = await loop.sock_recv(self._sock, 4096)
            except OSError as exc:
                if exc.errno != errno.ENOBUFS:
                    raise
                return Lost()
            event = parse_event(data)
            if event is not None:
                return event

    def close(self) -> None:
        if self._sock is None:
            return
        with contextlib.suppress(OSError):
            self._sock.send(subscribe_message(False))
        self._sock.close()
        self._sock = None
