"""A VRRP lab in network namespaces: directors on one bridge, real daemons, a VIP timeline.

Directors ``a`` (192.168.88.8) and ``b`` (192.168.88.9), and an observer ``c`` (192.168.88.2),
each with ``eth1`` on one bridge (``tests/kernel/nsutil.Lan``: random prefix, removed by name).
Daemons are pykeepalived (``python -m pykeepalived``) or Debian's keepalived, each with its own
config, log and pid files in a temporary directory; they are stopped by PID.

``AddrWatch`` listens to every namespace's rtnetlink address events from one thread and stamps
each with ``time.monotonic()``: who held the VIP when, for any daemon, with no polling. Used by
the tests and by ``bench/failover.py``.
"""

import contextlib
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from ipaddress import ip_address
from pathlib import Path

from tests.kernel.nsutil import Lan, inside, run

KEEPALIVED = "/usr/sbin/keepalived"
ADDRESSES = {"a": "192.168.88.8", "b": "192.168.88.9", "c": "192.168.88.2"}
VIP = "192.168.88.100"
VIP6 = "fd00:88::100"

RTM_NEWADDR, RTM_DELADDR = 20, 21
RTMGRP_IPV4_IFADDR, RTMGRP_IPV6_IFADDR = 0x10, 0x100
IFA_ADDRESS, IFA_LOCAL = 1, 2
_NLMSG = struct.Struct("=IHHII")
_IFADDR = struct.Struct("=BBBBI")
_RTA = struct.Struct("=HH")


def _addr_events(data: bytes) -> Iterator[tuple[str, str]]:
    """("add"|"del", address) for each RTM_NEWADDR / RTM_DELADDR in a netlink datagram."""
    offset = 0
    while offset + _NLMSG.size <= len(data):
        length, kind, _flags, _seq, _pid = _NLMSG.unpack_from(data, offset)
        if length < _NLMSG.size:
            return
        if kind in (RTM_NEWADDR, RTM_DELADDR):
            body = offset + _NLMSG.size
            family = data[body]
            attrs, end = body + _IFADDR.size, offset + length
            found: dict[int, bytes] = {}
            while attrs + _RTA.size <= end:
                rta_len, rta_type = _RTA.unpack_from(data, attrs)
                if rta_len < _RTA.size:
                    break
                found[rta_type] = data[attrs + _RTA.size : attrs + rta_len]
                attrs += (rta_len + 3) & ~3
            raw = found.get(IFA_LOCAL) or found.get(IFA_ADDRESS)
            if raw is not None:
                fam = socket.AF_INET if family == socket.AF_INET else socket.AF_INET6
                yield ("add" if kind == RTM_NEWADDR else "del"), socket.inet_ntop(fam, raw)
        offset += (length + 3) & ~3


@dataclass
class AddrWatch:
    """Address add/remove events of several namespaces, stamped with ``time.monotonic()``."""

    events: list[tuple[float, str, str, str]] = field(default_factory=list)  # t, host, op, addr
    _socks: dict[int, tuple[socket.socket, str]] = field(default_factory=dict)
    _cond: threading.Condition = field(default_factory=threading.Condition)
    _stop: bool = False
    _thread: threading.Thread | None = None

    def add(self, host: str, ns: str) -> None:
        with inside(ns):
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
        sock.bind((0, RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self._socks[sock.fileno()] = (sock, host)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="addrwatch", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop:
            ready, _, _ = select.select(list(self._socks), [], [], 0.2)
            for fd in ready:
                sock, host = self._socks[fd]
                data = sock.recv(1 << 16)
                now = time.monotonic()
                with self._cond:
                    for op, addr in _addr_events(data):
                        self.events.append((now, host, op, addr))
                    self._cond.notify_all()

    def close(self) -> None:
        self._stop = True
        if self._thread is not None:
            self._thread.join(timeout=2)
        for sock, _ in self._socks.values():
            sock.close()

    def holders(self, addr: str, at: float | None = None) -> set[str]:
        """Who holds ``addr`` after every event up to ``at`` (default: now)."""
        held: set[str] = set()
        with self._cond:
            for t, host, op, a in self.events:
                if a != addr or (at is not None and t > at):
                    continue
                (held.add if op == "add" else held.discard)(host)
        return held

    def wait_for(self, addr: str, host: str, *, op: str = "add", after: float = 0.0,
                 timeout: float = 10.0) -> float:  # fmt: skip
        """The time of the first ``op`` of ``addr`` on ``host`` after ``after``; waits for it."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for t, h, o, a in self.events:
                    if t >= after and h == host and o == op and a == addr:
                        return t
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{addr} {op} on {host} not seen within {timeout}s")
                self._cond.wait(min(left, 0.1))

    def overlaps(self, addr: str, since: float = 0.0) -> list[float]:
        """Lengths of the periods after ``since`` when more than one host held ``addr``."""
        held: set[str] = set()
        out: list[float] = []
        start: float | None = None
        with self._cond:
            timeline = [(t, h, o) for t, h, o, a in self.events if a == addr]
        for t, host, op in timeline:
            (held.add if op == "add" else held.discard)(host)
            if len(held) > 1 and start is None:
                start = t
            elif len(held) <= 1 and start is not None:
                if t >= since:
                    out.append(t - max(start, since))
                start = None
        if start is not None:
            out.append(time.monotonic() - max(start, since))
        return out


@dataclass
class Daemon:
    host: str
    ns: str
    impl: str  # "py" or "ka"
    proc: "subprocess.Popen[bytes]"
    log: Path
    vrrp_pidfile: Path

    def vrrp_pid(self) -> int:
        """The process running VRRP: keepalived's VRRP child, or pykeepalived itself."""
        if self.impl == "py":
            return self.proc.pid
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, ValueError):
                return int(self.vrrp_pidfile.read_text().split()[0])
            time.sleep(0.05)
        raise TimeoutError(f"keepalived on {self.host} wrote no VRRP pid file")

    def kill(self, sig: signal.Signals) -> None:
        """SIGTERM: the main process (keepalived stops its children gracefully); SIGKILL: the
        VRRP process first (nothing may send a priority 0 advert), then the main one."""
        if sig == signal.SIGKILL and self.impl == "ka":
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.vrrp_pid(), signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.proc.pid, sig)

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc.poll() is None:
            self.kill(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill(signal.SIGKILL)
                self.proc.wait(timeout=5)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_log(self, needle: str, timeout: float = 10.0, count: int = 1) -> None:
        deadline = time.monotonic() + timeout
        while self.text().count(needle) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.host}: '{needle}' not logged within {timeout}s")
            time.sleep(0.05)


@dataclass
class VrrpLab:
    lan: Lan = field(default_factory=Lan)
    ns: dict[str, str] = field(default_factory=dict)
    daemons: list[Daemon] = field(default_factory=list)
    watch: AddrWatch = field(default_factory=AddrWatch)
    tmp: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="vrrplab-")))
    ipv6: bool = False

    def __post_init__(self) -> None:
        for host, addr in ADDRESSES.items():
            # No DAD: a link-local address must be usable at once for VRRPv3 over IPv6.
            self.ns[host] = self.lan.host(host, f"{addr}/24", nodad=True)
            self.watch.add(host, self.ns[host])
        self.watch.start()
        deadline = time.monotonic() + 10
        while any(self._tentative(h) for h in ADDRESSES) and time.monotonic() < deadline:
            time.sleep(0.1)

    def _tentative(self, host: str) -> bool:
        return bool(run("ip", "-6", "addr", "show", "dev", "eth1", "tentative", ns=self.ns[host]))

    def start(self, host: str, conf: str, *, impl: str = "py", detail: bool = True) -> Daemon:
        n = len(self.daemons)
        base = self.tmp / f"{host}-{impl}-{n}"
        conf_path, log = base.with_suffix(".conf"), base.with_suffix(".log")
        conf_path.write_text(conf)
        pid, vrrp_pid = base.with_suffix(".pid"), base.with_suffix(".vrrp.pid")
        if impl == "py":
            argv = [sys.executable, "-m", "pykeepalived", "-n", "-l", "-P", "-f", str(conf_path),
                    "-p", str(pid)]  # fmt: skip
        else:
            argv = [KEEPALIVED, "-n", "-l", "-P", "-f", str(conf_path), "-p", str(pid),
                    "-r", str(vrrp_pid)]  # fmt: skip
        if detail:
            argv.append("-D")
        out = log.open("wb")
        proc = subprocess.Popen(
            ["ip", "netns", "exec", self.ns[host], *argv],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        out.close()
        daemon = Daemon(host=host, ns=self.ns[host], impl=impl, proc=proc, log=log,
                        vrrp_pidfile=vrrp_pid)  # fmt: skip
        self.daemons.append(daemon)
        return daemon

    def addresses(self, host: str) -> str:
        return run("ip", "-o", "addr", "show", "dev", "eth1", ns=self.ns[host])

    def link(self, host: str, up: bool) -> None:
        run("ip", "link", "set", "eth1", "up" if up else "down", ns=self.ns[host])

    def close(self) -> None:
        for daemon in self.daemons:
            with contextlib.suppress(Exception):
                daemon.stop(timeout=5)
        self.watch.close()
        self.lan.close()


@contextlib.contextmanager
def vrrp_lab() -> Iterator[VrrpLab]:
    """A lab removed on exit; on a failure the daemons' logs are printed first (pytest shows
    them with the failure). ``VRRPLAB_KEEP=1`` keeps the temporary directory."""
    lab = VrrpLab()
    try:
        yield lab
    except BaseException:
        for daemon in lab.daemons:
            print(f"==== {daemon.log.name} ====\n{daemon.text()[-4000:]}")
        raise
    finally:
        lab.close()
        if not os.environ.get("VRRPLAB_KEEP"):
            shutil.rmtree(lab.tmp, ignore_errors=True)


def instance_conf(
    *,
    priority: int,
    version: int = 3,
    advert_int: float = 0.05,
    name: str = "HA_WebServer",
    vrid: int = 18,
    state: str = "MASTER",
    interface: str = "eth1",
    vips: tuple[str, ...] = (f"{VIP}/24",),
    unicast: tuple[str, str] | None = None,
    extra: str = "",
    version_line: bool = True,
) -> str:
    """The seed's vrrp_instance with the knobs the tests turn (``unicast``: (src, peer));
    ``version_line`` False leaves the version to global_defs' ``vrrp_version``."""
    lines = [
        f"vrrp_instance {name} {{",
        f"    state {state}",
        f"    interface {interface}",
        f"    virtual_router_id {vrid}",
        f"    priority {priority}",
        f"    advert_int {advert_int:g}",
    ]
    if version_line:
        lines.append(f"    version {version}")
    if version == 2:
        lines += ["    authentication {", "        auth_type PASS", "        auth_pass 123456",
                  "    }"]  # fmt: skip
    if unicast is not None:
        src, peer = unicast
        lines += [f"    unicast_src_ip {src}", "    unicast_peer {", f"        {peer}", "    }"]
    lines += ["    virtual_ipaddress {", *(f"        {v}" for v in vips), "    }"]
    lines += [f"    {line}" for line in extra.strip().splitlines()]
    lines.append("}")
    return "\n".join(lines) + "\n"


def config(*blocks: str, global_defs: str = "") -> str:
    head = "global_defs {\n    router_id LAB\n" + global_defs + "}\n"
    return head + "".join(blocks)


def is_ip(text: str) -> bool:
    try:
        ip_address(text)
    except ValueError:
        return False
    return True


def wait_sole(lab: VrrpLab, addr: str, host: str, *, timeout: float = 15.0,
              settle: float = 0.3) -> float:  # fmt: skip
    """Wait until ``host`` alone has held ``addr`` for ``settle`` seconds; returns when it began."""
    deadline = time.monotonic() + timeout
    since: float | None = None
    while time.monotonic() < deadline:
        if lab.watch.holders(addr) == {host}:
            since = since or time.monotonic()
            if time.monotonic() - since >= settle:
                return since
        else:
            since = None
        time.sleep(0.02)
    raise TimeoutError(f"{addr} not held by {host} alone within {timeout}s: "
                       f"{sorted(lab.watch.holders(addr))}")  # fmt: skip


def skew_s(version: int, priority: int, advert_int: float) -> float:
    from pykeepalived.vrrp.timing import skew_time_us

    return skew_time_us(version, priority, round(advert_int * 1e6)) / 1e6


def master_down_s(version: int, priority: int, advert_int: float) -> float:
    from pykeepalived.vrrp.timing import master_down_us

    return master_down_us(version, priority, round(advert_int * 1e6)) / 1e6


def start_pair(lab: VrrpLab, conf_a: str, conf_b: str, *, impl_a: str = "py",
               impl_b: str = "py", addr: str = VIP, detail: bool = True) -> None:  # fmt: skip
    """b first, up and in BACKUP; then a, until it alone holds ``addr``."""
    b = lab.start("b", conf_b, impl=impl_b, detail=detail)
    b.wait_log("Entering BACKUP STATE", timeout=20)
    lab.start("a", conf_a, impl=impl_a, detail=detail)
    wait_sole(lab, addr, "a", timeout=20)


@dataclass
class Cycle:
    """One failover cycle's measurements (seconds)."""

    sigterm: float
    preempt_overlap: float
    sigkill: float


def failover_cycle(lab: VrrpLab, conf_a: str, conf_b: str, *, impl_a: str = "py",
                   impl_b: str = "py", addr: str = VIP) -> Cycle:  # fmt: skip
    """a (the higher priority) masters; SIGTERM -> b; a restarts and preempts; SIGKILL -> b."""
    start_pair(lab, conf_a, conf_b, impl_a=impl_a, impl_b=impl_b, addr=addr)
    a = lab.daemons[-1]
    t0 = time.monotonic()
    a.kill(signal.SIGTERM)
    sigterm = lab.watch.wait_for(addr, "b", after=t0) - t0
    a.proc.wait(timeout=10)
    wait_sole(lab, addr, "b")
    t1 = time.monotonic()
    a = lab.start("a", conf_a, impl=impl_a)
    wait_sole(lab, addr, "a", timeout=20, settle=0.5)
    overlap = max(lab.watch.overlaps(addr, since=t1), default=0.0)
    t2 = time.monotonic()
    a.kill(signal.SIGKILL)
    sigkill = lab.watch.wait_for(addr, "b", after=t2) - t2
    a.proc.wait(timeout=10)
    return Cycle(sigterm=sigterm, preempt_overlap=overlap, sigkill=sigkill)
