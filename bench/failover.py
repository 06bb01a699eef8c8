"""VRRP failover benchmark: pykeepalived against keepalived 2.2.7 in the same namespace lab.

Usage: ``.venv/bin/python bench/failover.py [--runs 20] [--impl py,ka] [--modes v2:1,v3:0.05]
[--signals TERM,KILL] [--idle 10]`` (root).

Two directors (``tests/netns/vrrplab.py``: namespaces with a random prefix on one bridge) run
the seed's vrrp_instance (priorities 100 / 99, VRID 18, VIP 192.168.88.100/24) with the same
implementation on both sides. Each run: the master (priority 100) gets SIGTERM or SIGKILL;
the failover time is from the signal to the backup's rtnetlink RTM_NEWADDR of the VIP
(timestamped as it arrives, ``AddrWatch``), the signal sent at a random phase of the
advert cycle; then the master is restarted and the lab waits
until it holds the VIP alone again (preempt) before the next run. For keepalived, SIGKILL goes
to its VRRP child first (then the parent), so that no priority 0 advert is sent.

Idle cost: with the master holding the VIP, the CPU time (utime + stime from /proc, all of
keepalived's processes) over ``--idle`` seconds, and the RSS (VmRSS, summed).

Expected failover (the bound the tests check): SIGTERM about the backup's skew time
((256 - 99) / 256 s in v2, that times the interval in v3), SIGKILL the master-down interval
(3 intervals + skew).
"""

import argparse
import os
import random
import signal
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.netns.vrrplab import (
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


def measure(impl: str, version: int, adv: float, sig: signal.Signals, runs: int,
            idle: float) -> tuple[list[float], tuple[float, int] | None]:  # fmt: skip
    conf_a, conf_b = confs(version, adv)
    times: list[float] = []
    cost = None
    with vrrp_lab() as lab:
        start_pair(lab, conf_a, conf_b, impl_a=impl, impl_b=impl, detail=False)
        a = lab.daemons[-1]
        if idle:
            cost = idle_cost(a, idle)
        for _ in range(runs):
            times.append(one_run(lab, a, sig, adv))
            a.proc.wait(timeout=10)
            a = lab.start("a", conf_a, impl=impl, detail=False)
            wait_sole(lab, VIP, "a", timeout=30, settle=max(0.3, adv))
    return times, cost


def one_run(lab: VrrpLab, master: Daemon, sig: signal.Signals, adv: float) -> float:
    time.sleep(random.uniform(0, adv))  # any phase of the advert cycle (matters for SIGKILL)
    t0 = time.monotonic()
    master.kill(sig)
    return lab.watch.wait_for(VIP, "b", after=t0, timeout=30) - t0


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
    args = p.parse_args()
    if os.geteuid() != 0:
        print("needs root (network namespaces)", file=sys.stderr)
        return 2
    impls = args.impl.split(",")
    results: dict[tuple[str, str, str], list[float]] = {}
    costs: dict[tuple[str, str], tuple[float, int]] = {}
    for mode in args.modes.split(","):
        version, adv = int(mode[1]), float(mode.split(":")[1])
        for sig_name in args.signals.split(","):
            sig = signal.Signals[f"SIG{sig_name}"]
            for impl in impls:
                idle = args.idle if sig_name == args.signals.split(",")[0] else 0.0
                times, cost = measure(impl, version, adv, sig, args.runs, idle)
                results[(mode, sig_name, impl)] = times
                if cost is not None:
                    costs[(mode, impl)] = cost
                print(f"{mode} SIG{sig_name} {impl}: p50 {1000 * statistics.median(times):.1f} ms"
                      f" p95 {1000 * pct(times, 0.95):.1f} ms max {1000 * max(times):.1f} ms"
                      f" (n={len(times)})", flush=True)  # fmt: skip
    report(results, costs, impls)
    return 0


def report(results: dict[tuple[str, str, str], list[float]],
           costs: dict[tuple[str, str], tuple[float, int]], impls: list[str]) -> None:  # fmt: skip
    print("\n| mode | signal | bound | impl | p50 ms | p95 ms | max ms | runs |")
    print("|---|---|---|---|---|---|---|---|")
    for (mode, sig, impl), times in results.items():
        version, adv = int(mode[1]), float(mode.split(":")[1])
        bound = skew_s(version, 99, adv) + 0.1
        if sig == "KILL":
            bound = master_down_s(version, 99, adv) + 0.15
        print(f"| {mode} | SIG{sig} | {1000 * bound:.0f} | {impl} |"
              f" {1000 * statistics.median(times):.1f} | {1000 * pct(times, 0.95):.1f} |"
              f" {1000 * max(times):.1f} | {len(times)} |")  # fmt: skip
    if "py" in impls and "ka" in impls:
        print("\n| mode | signal | p50 py/ka | p95 py/ka |")
        print("|---|---|---|---|")
        for mode, sig, impl in results:
            if impl != "py" or (mode, sig, "ka") not in results:
                continue
            py, ka = results[(mode, sig, "py")], results[(mode, sig, "ka")]
            print(f"| {mode} | SIG{sig} | {statistics.median(py) / statistics.median(ka):.2f} |"
                  f" {pct(py, 0.95) / pct(ka, 0.95):.2f} |")  # fmt: skip
    if costs:
        print("\n| mode | impl | idle CPU as master (% of one core) | RSS MiB |")
        print("|---|---|---|---|")
        for (mode, impl), (cpu, rss) in costs.items():
            print(f"| {mode} | {impl} | {cpu:.2f} | {rss / 1024:.1f} |")


if __name__ == "__main__":
    raise SystemExit(main())
