"""Seed scenario bench: keepalived 2.2.7 and pykeepalived play the seed's steps in the same lab.

The lab is ``pykeepalived lab``'s topology (directors .8 and .9, web nodes .10 and .11, client
.2, one bridge) with the seed's two configs unchanged; the directors run either Debian's
keepalived or pykeepalived, both started with keepalived's command line (``-n -l -D -f CONF -p
PID -r VRRP_PID -c CHECK_PID``) and stopped by SIGTERM to the pid in the -p file. One topology
for the whole bench; the directors are swapped between rounds (keepalived first in odd runs,
pykeepalived first in even runs).

Each step is timed from its event to the kernel's change, the same way for both:

* VIP events come from ``ip -ts monitor address`` in each director's namespace (the kernel's
  RTM_NEWADDR/RTM_DELADDR, timestamped as they arrive);
* IPVS changes from a shell loop in the master's namespace that prints ``ipvsadm -Ln`` with a
  timestamp whenever it changes (about 0.1 s resolution under TCG);
* the master's health checks from node-1's access log (each HTTP_GET is a line).

Steps: ``start`` (both directors started at once -> VIP on the master only, stable),
``table`` (start -> the seed's two real servers in the master's IPVS), ``failover`` (SIGTERM
to the master's -p pid -> VIP added on the backup), ``preempt`` (master started again -> VIP
back on it and gone from the backup; split into the process start, until it writes its -p
file, and the rest), ``web down`` (node-1's web server killed 0.3 s after a
health check of the master reached it, so the delay_loop phase is the same for both -> node-1
out of the master's table), ``web up (check)`` (the first health check that reaches the
restarted web server -> node-1 back in the table; ``web up (total)``, from the web server
being ready, adds the delay_loop phase, random for both), ``stop`` (SIGTERM -> the master's
process gone, its VIP and IPVS entries removed). Medians of ``--runs`` runs, and the ratio
pykeepalived / keepalived.

Needs root and kernel IPVS, i.e. the test VM on this project's machines::

    .venv/bin/python tests/vm/ipvs_vm.py --timeout 1800 -- \\
        .venv/bin/python bench/seed_scenario.py --runs 3
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from pykeepalived.lab import topology
from pykeepalived.lab.scenario import requests
from pykeepalived.lab.topology import (
    DIRECTORS,
    HOSTS,
    VIP,
    LabState,
    pid_files,
    start_director,
    start_web,
    stop_director,
)

MASTER, BACKUP = DIRECTORS
NODE1 = HOSTS["node-1"]
IMPLS = ("keepalived", "pykeepalived")
STEPS = ("start", "table", "failover", "preempt", "  exec->pid file", "  pid file->VIP",
         "web down", "web up (check)", "web up (total)", "stop")  # fmt: skip
IPVS_LOOP = (
    'old=; while :; do new=$(ipvsadm -Ln 2>&1); if [ "$new" != "$old" ]; then '
    'echo "@ $(date +%s.%N)"; echo "$new"; old=$new; fi; sleep 0.05; done'
)
BOUND = 90.0  # seconds any one wait may take under TCG before the step counts as failed


class StepFailed(Exception):
    """A step's expected outcome did not happen within BOUND; the message says which."""


class Tail:
    """A background process in a namespace whose output goes to a file, read as it grows."""

    def __init__(self, state: LabState, host: str, argv: list[str], path: Path) -> None:
        self.path = path
        with path.open("wb") as out:
            self.proc = subprocess.Popen(["ip", "netns", "exec", state.ns(host), *argv],
                                         stdout=out, stderr=subprocess.STDOUT)  # fmt: skip

    def lines(self) -> list[str]:
        return self.path.read_text(errors="replace").splitlines()

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


def vip_events(tail: Tail) -> list[tuple[float, bool]]:
    """(time, added) of each VIP address event, from ``ip -ts -o monitor address``."""
    out = []
    for line in tail.lines():
        if f" inet {VIP}/" not in line or not line.startswith("["):
            continue
        stamp, rest = line[1:].split("]", 1)
        out.append((datetime.fromisoformat(stamp).timestamp(), not rest.lstrip().startswith("Del")))
    return out


def ipvs_snapshots(tail: Tail) -> list[tuple[float, frozenset[str]]]:
    """(time, real servers of the seed's service) each time ``ipvsadm -Ln`` changed."""
    out: list[tuple[float, frozenset[str]]] = []
    at, dests, in_service = 0.0, set[str](), False
    for line in [*tail.lines(), "@ end"]:
        if line.startswith("@ "):
            if at:
                out.append((at, frozenset(dests)))
            at = float(line[2:]) if line != "@ end" else 0.0
            dests, in_service = set(), False
        elif line.startswith(("TCP", "UDP")):
            in_service = f"{VIP}:80" in line
        elif in_service and line.strip().startswith("->") and ":80" in line:
            dests.add(line.split()[1].rsplit(":", 1)[0])
    return out


def wait(what: str, check: Callable[[], float | None], bound: float = BOUND) -> float:
    """Poll ``check`` until it returns a time; StepFailed after ``bound`` seconds."""
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        found = check()
        if found is not None:
            return found
        time.sleep(0.05)
    raise StepFailed(f"not within {bound:.0f} s: {what}")


class Bench:
    def __init__(self, state: LabState, work: Path) -> None:
        self.state = state
        self.vips = {d: Tail(state, d, ["ip", "-ts", "-o", "monitor", "address", "dev", "eth1"],
                             work / f"{d}.vip") for d in DIRECTORS}  # fmt: skip
        self.ipvs = Tail(state, MASTER, ["sh", "-c", IPVS_LOOP], work / "master.ipvs")
        self.access = topology.STATE_DIR / "node-1.access"

    def close(self) -> None:
        for tail in (*self.vips.values(), self.ipvs):
            tail.stop()

    def holds(self, director: str, since: float) -> tuple[bool, float]:
        """Whether the director holds the VIP now (by its events), and the last event's time."""
        events = [e for e in vip_events(self.vips[director]) if e[0] >= since]
        return (events[-1][1], events[-1][0]) if events else (False, since)

    def vip_only_on(self, director: str, since: float, stable: float = 2.0) -> float:
        """When the VIP settled on ``director`` alone (no event for ``stable`` seconds)."""
        other = BACKUP if director == MASTER else MASTER

        def settled() -> float | None:
            (mine, t1), (theirs, t2) = self.holds(director, since), self.holds(other, since)
            done = max(t1, t2)
            return done if mine and not theirs and time.time() - done >= stable else None

        return wait(f"the VIP on {director} alone", settled) - since

    def table(self, since: float, want: Callable[[frozenset[str]], bool]) -> float:
        def changed() -> float | None:
            hits = [t for t, d in ipvs_snapshots(self.ipvs) if t >= since and want(d)]
            return hits[0] if hits else None

        return wait("the master's IPVS table change", changed) - since

    def master_check(self, since_lines: int) -> float:
        """Wait for the master's next health check on node-1 (an access log line from .8)."""

        def seen() -> float | None:
            lines = self.access.read_text().splitlines() if self.access.exists() else []
            fresh = [x for x in lines[since_lines:] if x.startswith(HOSTS[MASTER] + " ")]
            return time.time() if fresh else None

        return wait("a health check of the master on node-1", seen, bound=BOUND)

    def access_lines(self) -> int:
        return len(self.access.read_text().splitlines()) if self.access.exists() else 0

    def round(self, impl: str) -> dict[str, float]:
        self.state.daemon = impl
        self.state.save()
        times: dict[str, float] = {}
        t0 = time.time()
        start_director(self.state, MASTER)
        start_director(self.state, BACKUP)
        times["start"] = self.vip_only_on(MASTER, t0)
        times["table"] = self.table(t0, lambda d: {NODE1, HOSTS["node-2"]} <= d)
        self.serves_both()
        t = time.time()
        stop_director(self.state, MASTER)
        times["failover"] = self.vip_only_on(BACKUP, t, stable=0.0)
        t = time.time()
        start_director(self.state, MASTER)
        times["preempt"] = self.vip_only_on(MASTER, t)
        # How much of it is the process starting (until it writes its -p file; pykeepalived
        # does that once its modules are imported) and how much is VRRP.
        written = pid_files(MASTER)[0].stat().st_mtime - t
        times["  exec->pid file"] = written
        times["  pid file->VIP"] = times["preempt"] - written
        times.update(self.web_steps())
        times["stop"] = self.stop_all()
        return times

    def serves_both(self) -> None:
        """Requests through the VIP reach both web servers (not timed; retried, bounded)."""
        seen: set[str] = set()

        def both() -> float | None:
            seen.clear()
            seen.update(requests(self.state, 10))
            return time.time() if seen == {NODE1, HOSTS["node-2"]} else None

        try:
            wait("requests through the VIP reach both web servers", both, bound=60)
        except StepFailed:
            tables = {d: self.state.exec(d, "ipvsadm", "-Ln") for d in DIRECTORS}
            neigh = self.state.exec("client", "ip", "neigh")
            raise StepFailed(f"requests answered by {sorted(seen)}; {tables}; {neigh}") from None

    def web_steps(self) -> dict[str, float]:
        self.master_check(self.access_lines())
        time.sleep(0.3)  # the check's answer is on its way: the next check is the one to fail
        t = time.time()
        self.state.kill("web:node-1")
        down = self.table(t, lambda d: NODE1 not in d)
        log = topology.STATE_DIR / "node-1.log"
        readies = log.read_text().count("ready")
        mark = self.access_lines()
        started = time.time()
        start_web(self.state, "node-1")

        def listening() -> float | None:
            return time.time() if log.read_text().count("ready") > readies else None

        ready = wait("node-1's web server ready", listening)
        check = self.master_check(mark)
        # From the start, not from "ready": seeing "ready" takes a poll, a check may be quicker.
        back = started + self.table(started, lambda d: NODE1 in d)
        return {"web down": down, "web up (check)": back - check,
                "web up (total)": back - ready}  # fmt: skip

    def stop_all(self) -> float:
        """Graceful stop of both directors; the master's time, and nothing may be left."""
        t = time.time()
        stop_director(self.state, MASTER)
        took = time.time() - t
        stop_director(self.state, BACKUP)
        for director in DIRECTORS:
            listing = self.state.exec(director, "ipvsadm", "-Ln")
            services = [x for x in listing.splitlines() if x.startswith(("TCP", "UDP"))]
            addrs = self.state.exec(director, "ip", "-o", "addr", "show", "dev", "eth1")
            if services or f" {VIP}/" in addrs:
                raise StepFailed(f"{director} left {services} / VIP after a graceful stop")
        return took


def report(results: dict[str, list[dict[str, float]]]) -> None:
    print(f"\n{'step':<16} {'keepalived 2.2.7':>22} {'pykeepalived':>22} {'py/ka':>7}")
    for step in STEPS:
        cells, medians = [], []
        for impl in IMPLS:
            values = [r[step] for r in results[impl] if step in r]
            med = statistics.median(values) if values else float("nan")
            medians.append(med)
            spread = f"[{min(values):.2f}-{max(values):.2f}]" if values else "[-]"
            cells.append(f"{med:6.2f} s {spread:>13}")
        ratio = medians[1] / medians[0] if medians[0] > 0 else float("nan")
        print(f"{step:<16} {cells[0]:>22} {cells[1]:>22} {ratio:6.2f}x")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=3)
    args = p.parse_args()
    if os.geteuid() != 0 or not Path("/proc/net/ip_vs").exists():
        print("needs root and kernel IPVS (run it in the test VM: see the docstring)")
        return 2
    work = Path(tempfile.mkdtemp(prefix="seedbench-"))
    topology.STATE_DIR = work / "lab"
    print(f"kernel {os.uname().release}, {os.cpu_count()} CPU(s), load {os.getloadavg()}")
    print(subprocess.run(["/usr/sbin/keepalived", "--version"], capture_output=True,
                         text=True, check=False).stderr.splitlines()[0])  # fmt: skip
    state = topology.up(print, directors=False)  # started round by round
    logs = [topology.STATE_DIR / f"{node}.log" for node in ("node-1", "node-2")]
    wait(
        "the web servers ready",
        lambda: 1.0 if all("ready" in x.read_text() for x in logs) else None,
    )
    bench = Bench(state, work)
    results: dict[str, list[dict[str, float]]] = {impl: [] for impl in IMPLS}
    failed = 0
    try:
        for run in range(args.runs):
            for impl in IMPLS if run % 2 == 0 else IMPLS[::-1]:
                try:
                    times = bench.round(impl)
                except StepFailed as exc:
                    failed += 1
                    print(f"run {run + 1} {impl}: FAILED: {exc}")
                    for director in DIRECTORS:
                        state.kill(f"director:{director}")
                    continue
                results[impl].append(times)
                row = "  ".join(f"{k} {v:.2f}" for k, v in times.items())
                print(f"run {run + 1} {impl:<12} {row}", flush=True)
    finally:
        bench.close()
        topology.down(print)
    report(results)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
