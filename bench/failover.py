"""VRRP failover benchmark: pykeepalived against keepalived 2.2.7 in the same namespace lab.

Usage: ``.venv/bin/python bench/failover.py [--runs 20] [--impl py,ka] [--modes v2:1,v3:0.05]
[--signals TERM,KILL] [--idle 10] [--phase 0.2]`` (root).

Two directors (``tests/netns/vrrplab.py``: namespaces with a random prefix on one bridge) run
the seed's vrrp_instance (priorities 100 / 99, VRID 18, VIP 192.168.88.100/24) with the same
implementation on both sides. Each run: the master (priority 100) gets SIGTERM or SIGKILL;
the failover time is from the signal to the backup's first gratuitous ARP for the VIP (sent
right after the VIP is added, by both implementations; the instant the LAN learns of the
takeover), stamped by the kernel as it passed the backup's link (``Wire``: a packet socket
with SO_TIMESTAMPNS, so the bench's own scheduling delays on a loaded machine stay out).
The signal is sent at a fixed phase of the advert cycle: ``--phase`` of an interval after
the backup saw the master's advert, so both implementations face the same timer (with a
random phase, a SIGKILL takeover varies by a whole interval, and p95 over 20 runs compared
luck). ``lag`` is the part that is the implementation's own: from the instant its timer was
due (priority 0 advert seen + skew time for SIGTERM, last advert seen + master-down
interval for SIGKILL) to the gratuitous ARP. Then the master is restarted and the lab waits
until it holds the VIP alone again (preempt) before the next run. For keepalived, SIGKILL
goes to its VRRP child first (then the parent), so that no priority 0 advert is sent.

Idle cost: with the master holding the VIP, the CPU time (utime + stime from /proc, all of
keepalived's processes) over ``--idle`` seconds, and the RSS (VmRSS, summed).

Expected failover (the bound the tests check): SIGTERM about the backup's skew time
((256 - 99) / 256 s in v2, that times the interval in v3), SIGKILL the master-down interval
(3 intervals + skew).
"""

import argparse
import os
import signal
import socket
import statistics
import struct
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.kernel.nsutil import inside
from tests.netns.vrrplab import (
    ADDRESSES,
    VIP,
    Daemon,
    VrrpLab,
    config,
    instance_conf,
    master_down_s,
    skew_s,
    start_pair,
    vrrp_lab,
    wait_sole,
)

SO_TIMESTAMPNS = 35  # also the SCM type of the ancillary timestamp
PACKET_OUTGOING = 4
ETH_P_ALL, ETH_P_IP, ETH_P_ARP = 0x0003, 0x0800, 0x0806


@dataclass
class Wire:
    """What one host's eth1 carries, stamped by the kernel as the packet passed
    (SO_TIMESTAMPNS, moved to the monotonic clock): VRRP adverts seen (source, priority) and
    gratuitous ARPs the host sent (the VIP announced: the instant clients learn of the
    takeover). Kernel stamps keep the bench's own scheduling delays (a loaded machine) out of
    the figures; a packet socket read by a thread."""

    ns: str
    adverts: list[tuple[float, str, int]] = field(default_factory=list)
    garps: list[tuple[float, str]] = field(default_factory=list)
    _stop: bool = False

    def __post_init__(self) -> None:
        with inside(self.ns):
            self._sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        self._sock.bind(("eth1", 0))
        self._sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self._sock.settimeout(0.2)
        self._cond = threading.Condition()
        threading.Thread(target=self._loop, name="wire", daemon=True).start()

    def _loop(self) -> None:
        while not self._stop:
            try:
                frame, ancillary, _, address = self._sock.recvmsg(2048, 64)
            except TimeoutError:
                continue
            except OSError:
                return  # closed
            stamp = time.monotonic()
            for level, kind, data in ancillary:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                    sec, nsec = struct.unpack("=qq", data[:16])
                    stamp += sec + nsec / 1e9 - time.time()
            self._record(stamp, frame, outgoing=address[2] == PACKET_OUTGOING)

    def _record(self, stamp: float, frame: bytes, *, outgoing: bool) -> None:
        ethertype = int.from_bytes(frame[12:14], "big")
        body = frame[14:]
        with self._cond:
            if ethertype == ETH_P_IP and len(body) >= 24 and body[9] == 112:
                vrrp = body[(body[0] & 15) * 4 :]
                self.adverts.append((stamp, socket.inet_ntoa(body[12:16]), vrrp[2]))
            elif ethertype == ETH_P_ARP and outgoing and len(body) >= 28:
                self.garps.append((stamp, socket.inet_ntoa(body[14:18])))
            self._cond.notify_all()

    def next_from(self, src: str, timeout: float = 10.0) -> float:
        """Wait for the next advert from ``src``; its time."""
        start, deadline = time.monotonic(), time.monotonic() + timeout
        with self._cond:
            while True:
                for t, s, _ in reversed(self.adverts):
                    if t >= start and s == src:
                        return t
                if not self._cond.wait(deadline - time.monotonic()):
                    raise TimeoutError(f"no advert from {src} within {timeout}s")

    def first(self, src: str, after: float, priority: int | None = None) -> float | None:
        with self._cond:
            for t, s, p in self.adverts:
                if t >= after and s == src and (priority is None or p == priority):
                    return t
        return None

    def last(self, src: str, before: float) -> float | None:
        with self._cond:
            found = [t for t, s, _ in self.adverts if t < before and s == src]
        return found[-1] if found else None

    def garp(self, vip: str, after: float, timeout: float = 5.0) -> float:
        """The first gratuitous ARP for ``vip`` this host sent after ``after``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for t, address in self.garps:
                    if t >= after and address == vip:
                        return t
                if not self._cond.wait(max(0.0, deadline - time.monotonic())):
                    raise TimeoutError(f"no gratuitous ARP for {vip} within {timeout}s")

    def close(self) -> None:
        self._stop = True
        self._sock.close()


def pids(daemon: Daemon) -> list[int]:
    if daemon.impl == "py":
        return [daemon.proc.pid]
    return [daemon.proc.pid, daemon.vrrp_pid()]


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def idle_cost(master: Daemon, seconds: float) -> tuple[float, int]:
    """Percent of one CPU used over ``seconds`` as master, and RSS in KiB."""
    procs = pids(master)
    before = sum(cpu_s(p) for p in procs)
    time.sleep(seconds)
    used = sum(cpu_s(p) for p in procs) - before
    return 100 * used / seconds, sum(rss_kib(p) for p in procs)


def confs(version: int, adv: float) -> tuple[str, str]:
    return (
        config(instance_conf(priority=100, version=version, advert_int=adv)),
        config(instance_conf(priority=99, version=version, advert_int=adv)),
    )


@dataclass
class Run:
    failover: float  # signal -> VIP on the backup
    lag: float  # the backup's timer due -> VIP on the backup


def measure(impl: str, version: int, adv: float, sig: signal.Signals, runs: int,
            idle: float, phase: float) -> tuple[list[Run], tuple[float, int] | None]:  # fmt: skip
    conf_a, conf_b = confs(version, adv)
    out: list[Run] = []
    cost = None
    with vrrp_lab() as lab:
        adverts = Wire(lab.ns["b"])
        try:
            start_pair(lab, conf_a, conf_b, impl_a=impl, impl_b=impl, detail=False)
            a = lab.daemons[-1]
            if idle:
                cost = idle_cost(a, idle)
            for _ in range(runs):
                out.append(one_run(lab, adverts, a, sig, (version, adv), phase))
                a.proc.wait(timeout=10)
                a = lab.start("a", conf_a, impl=impl, detail=False)
                wait_sole(lab, VIP, "a", timeout=30, settle=max(0.3, adv))
        finally:
            adverts.close()
    return out, cost


def one_run(lab: VrrpLab, adverts: Wire, master: Daemon, sig: signal.Signals,
            mode: tuple[int, float], phase: float) -> Run:  # fmt: skip
    version, adv = mode
    seen = adverts.next_from(ADDRESSES["a"])
    time.sleep(max(0.0, seen + phase * adv - time.monotonic()))
    t0 = time.monotonic()
    master.kill(sig)
    lab.watch.wait_for(VIP, "b", after=t0, timeout=30)  # rtnetlink: the VIP is on b
    taken = adverts.garp(VIP, t0)  # and announced: b's first gratuitous ARP, kernel time
    if sig == signal.SIGTERM:
        zero = adverts.first(ADDRESSES["a"], t0, priority=0)
        due = zero + skew_s(version, 99, adv) if zero is not None else float("nan")
    else:
        last = adverts.last(ADDRESSES["a"], t0)
        due = last + master_down_s(version, 99, adv) if last is not None else float("nan")
    return Run(failover=taken - t0, lag=taken - due)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--impl", default="py,ka")
    p.add_argument("--modes", default="v3:0.05,v2:1")
    p.add_argument("--signals", default="TERM,KILL")
    p.add_argument("--idle", type=float, default=10.0, help="seconds of idle measurement")
    p.add_argument("--phase", type=float, default=0.2,
                   help="signal this fraction of an interval after an advert")  # fmt: skip
    args = p.parse_args()
    if os.geteuid() != 0:
        print("needs root (network namespaces)", file=sys.stderr)
        return 2
    impls = args.impl.split(",")
    results: dict[tuple[str, str, str], list[Run]] = {}
    costs: dict[tuple[str, str], tuple[float, int]] = {}
    for mode in args.modes.split(","):
        version, adv = int(mode[1]), float(mode.split(":")[1])
        for sig_name in args.signals.split(","):
            sig = signal.Signals[f"SIG{sig_name}"]
            for impl in impls:
                idle = args.idle if sig_name == args.signals.split(",")[0] else 0.0
                runs, cost = measure(impl, version, adv, sig, args.runs, idle, args.phase)
                results[(mode, sig_name, impl)] = runs
                if cost is not None:
                    costs[(mode, impl)] = cost
                times = [r.failover for r in runs]
                print(f"{mode} SIG{sig_name} {impl}: p50 {1000 * statistics.median(times):.1f} ms"
                      f" p95 {1000 * pct(times, 0.95):.1f} ms max {1000 * max(times):.1f} ms"
                      f" (n={len(times)})", flush=True)  # fmt: skip
    report(results, costs, impls)
    return 0


def ms(values: list[float]) -> str:
    """p50 | p95 | max in ms."""
    return " | ".join(f"{1000 * v:.1f}" for v in (statistics.median(values),
                                                    pct(values, 0.95), max(values)))  # fmt: skip


def report(results: dict[tuple[str, str, str], list[Run]],
           costs: dict[tuple[str, str], tuple[float, int]], impls: list[str]) -> None:  # fmt: skip
    print("\n| mode | signal | bound | impl | failover p50 | p95 | max | lag p50 | p95 | max |"
          " runs |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for (mode, sig, impl), runs in results.items():
        version, adv = int(mode[1]), float(mode.split(":")[1])
        bound = skew_s(version, 99, adv) + 0.1
        if sig == "KILL":
            bound = master_down_s(version, 99, adv) + 0.15
        print(f"| {mode} | SIG{sig} | {1000 * bound:.0f} | {impl} |"
              f" {ms([r.failover for r in runs])} | {ms([r.lag for r in runs])} |"
              f" {len(runs)} |")  # fmt: skip
    if "py" in impls and "ka" in impls:
        print("\n| mode | signal | failover p50 py/ka | p95 py/ka | lag p50 py-ka ms |"
              " lag p95 py-ka ms |")  # fmt: skip
        print("|---|---|---|---|---|---|")
        for mode, sig, impl in results:
            if impl != "py" or (mode, sig, "ka") not in results:
                continue
            py, ka = results[(mode, sig, "py")], results[(mode, sig, "ka")]
            fpy, fka = [r.failover for r in py], [r.failover for r in ka]
            lpy, lka = [r.lag for r in py], [r.lag for r in ka]
            print(f"| {mode} | SIG{sig} | {statistics.median(fpy) / statistics.median(fka):.2f} |"
                  f" {pct(fpy, 0.95) / pct(fka, 0.95):.2f} |"
                  f" {1000 * (statistics.median(lpy) - statistics.median(lka)):+.1f} |"
                  f" {1000 * (pct(lpy, 0.95) - pct(lka, 0.95)):+.1f} |")  # fmt: skip
    if costs:
        print("\n| mode | impl | idle CPU as master (% of one core) | RSS MiB |")
        print("|---|---|---|---|")
        for (mode, impl), (cpu, rss) in costs.items():
            print(f"| {mode} | {impl} | {cpu:.2f} | {rss / 1024:.1f} |")


if __name__ == "__main__":
    raise SystemExit(main())
