"""Daemon start on this machine's own CPU: keepalived 2.2.7 against pykeepalived.

The seed scenario's ``start`` and ``preempt`` steps (bench/seed_scenario.py) are a process
start plus VRRP's master-down timer (3 x advert_int + skew: 3.61 s for priority 100). In the
IPVS VM, Python runs 10-15x slower (software emulation), so there the process start weighs
far more than on real hardware. This bench measures the same two figures on the host, without
emulation: one director alone in a network namespace, the seed's master config without its
virtual_server (the host kernel has no IPVS, and keepalived stops altogether when its checker
cannot initialise IPVS), started with keepalived's command line (``-n -l -D -f CONF -p PID -r
VRRP_PID -c CHECK_PID``):

* exec -> -p pid file written (pykeepalived writes it once its modules are imported);
* exec -> the VIP added (``ip -ts monitor address``: the kernel's RTM_NEWADDR).

    .venv/bin/python bench/daemon_start.py --runs 5      # root
"""

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from tests.kernel.nsutil import Lan

from pykeepalived import pidfile

SEED = Path(__file__).resolve().parent.parent / "src/pykeepalived/lab/seed/keepalived-master.conf"
VIP = "192.168.88.100"
ARGV = {"keepalived": ["/usr/sbin/keepalived"],
        "pykeepalived": [sys.executable, "-m", "pykeepalived"]}  # fmt: skip


def vip_added(path: Path) -> float | None:
    for line in path.read_text().splitlines():
        if f" inet {VIP}/" in line and not line.split("]", 1)[1].lstrip().startswith("Del"):
            return datetime.fromisoformat(line[1 : line.index("]")]).timestamp()
    return None


def once(ns: str, impl: str, work: Path) -> tuple[float, float]:
    conf = work / "keepalived.conf"
    conf.write_text(SEED.read_text().split("virtual_server", 1)[0])
    pids = [work / f"{impl}{part}.pid" for part in ("", ".vrrp", ".checkers")]
    flags = ["-n", "-l", "-D", "-f", str(conf)]
    for flag, path in zip(("-p", "-r", "-c"), pids, strict=True):
        flags += [flag, str(path)]
    monitor_out = work / "monitor"
    with monitor_out.open("wb") as out:
        monitor = subprocess.Popen(["ip", "netns", "exec", ns, "ip", "-ts", "-o", "monitor",
                                    "address", "dev", "eth1"], stdout=out)  # fmt: skip
    time.sleep(0.3)
    with (work / f"{impl}.log").open("ab") as log:
        t0 = time.time()
        proc = subprocess.Popen(["ip", "netns", "exec", ns, *ARGV[impl], *flags],
                                stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while (added := vip_added(monitor_out)) is None and time.monotonic() < deadline:
            time.sleep(0.02)
        if added is None:
            raise RuntimeError(f"{impl}: no VIP within 30 s; see {work / (impl + '.log')}")
        written = pids[0].stat().st_mtime
        pid = pidfile.pid_in(str(pids[0]))
        if pid is not None:
            os.kill(pid, signal.SIGTERM)  # the graceful stop, to the pid in the -p file
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        monitor.kill()
        monitor.wait()
    return written - t0, added - t0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=5)
    args = p.parse_args()
    lan = Lan()
    results: dict[str, list[tuple[float, float]]] = {impl: [] for impl in ARGV}
    try:
        ns = lan.host("dir", "192.168.88.8/24")
        with tempfile.TemporaryDirectory() as tmp:
            for run in range(args.runs):
                for impl in ARGV if run % 2 == 0 else reversed(list(ARGV)):
                    results[impl].append(once(ns, impl, Path(tmp)))
                    time.sleep(1)
    finally:
        lan.close()
    print(f"{'':14} {'exec->pid file':>16} {'exec->VIP':>11}   (medians of {args.runs})")
    med = {impl: [statistics.median(x[i] for x in rs) for i in (0, 1)]
           for impl, rs in results.items()}  # fmt: skip
    for impl, (written, added) in med.items():
        print(f"{impl:14} {written:14.3f} s {added:9.3f} s")
    ratio = med["pykeepalived"][1] / med["keepalived"][1]
    print(f"exec->VIP ratio pykeepalived/keepalived: {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
