"""The seed's tutorial as a scenario: each step acts, waits for the expected outcome with a
bound, and reports the measured time. ``lab run`` prints the transcript; any failed step
makes the command fail.
"""

import json
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from pykeepalived.lab.topology import (
    DIRECTORS,
    HOSTS,
    VIP,
    LabError,
    LabState,
    pid_files,
    start_director,
    start_web,
    stop_director,
)

MASTER, BACKUP = DIRECTORS


@dataclass(frozen=True, slots=True)
class Step:
    title: str
    ok: bool
    seconds: float | None = None
    detail: str = ""

    def line(self, n: int) -> str:
        timing = f"{self.seconds:6.2f} s" if self.seconds is not None else " " * 8
        verdict = "ok  " if self.ok else "FAIL"
        detail = f"  ({self.detail})" if self.detail else ""
        return f"[{n:2}] {verdict} {timing}  {self.title}{detail}"


def has_vip(state: LabState, host: str) -> bool:
    out = state.exec(host, "ip", "-4", "-o", "addr", "show", "dev", "eth1", check=False)
    return f" {VIP}/" in out


def requests(state: LabState, count: int) -> list[str]:
    out = state.exec("client", sys.executable, "-m", "pykeepalived.lab.client",
                     "--vip", VIP, "--count", str(count), timeout=30 + count)  # fmt: skip
    answers: list[str] = json.loads(out)["answers"]
    return answers


def spread(answers: list[str]) -> str:
    names = {address: name for name, address in HOSTS.items()}
    counts = Counter(names.get(a, "failed") if a else "failed" for a in answers)
    return ", ".join(f"{name} {n}" for name, n in sorted(counts.items()))


PATIENCE = float(os.environ.get("PYKEEPALIVED_LAB_PATIENCE", "1"))
"""Scales every step's bound: slow machines (an emulated VM) set it above 1."""


def wait_until(check: Callable[[], bool], timeout_s: float, poll_s: float = 0.05) -> float | None:
    start = time.monotonic()
    while time.monotonic() - start < timeout_s * PATIENCE:
        if check():
            return time.monotonic() - start
        time.sleep(poll_s)
    return None


class Scenario:
    def __init__(self, state: LabState, out: Callable[[str], None]) -> None:
        self.state = state
        self.out = out
        self.steps: list[Step] = []

    def record(self, step: Step) -> bool:
        self.steps.append(step)
        self.out(step.line(len(self.steps)))
        return step.ok

    def run(self) -> bool:
        ok = self.vip_on_master()
        ok = ok and self.balanced("requests through the VIP reach both web servers")
        # after the requests: the LVS half starts after VRRP, so at the VIP step it may not
        # have logged its data plane yet (seen in the IPVS VM); once requests are balanced it has
        self.out(f"     data plane: {self.backend()}")
        self.show_table()
        ok = ok and self.failover()
        ok = ok and self.preempt()
        ok = ok and self.web_down()
        ok = ok and self.web_back()
        verdict = "all steps passed" if ok else "a step FAILED"
        self.out(f"Seed scenario: {verdict} ({len(self.steps)} steps)")
        return ok

    def backend(self) -> str:
        if self.state.daemon == "keepalived":
            return "ipvs (keepalived)"
        log = self.state.dir / f"{MASTER}.log"
        for line in log.read_text(errors="replace").splitlines():
            if "LVS data plane:" in line:
                return line.split("LVS data plane:", 1)[1].strip()
        return "unknown (see the directors' logs)"

    def show_table(self) -> None:
        """What the tutorial shows with ``ipvsadm`` on the master: the kernel's table (IPVS),
        or our nftables table's services (nftables)."""
        if "ipvs" in self.backend().split(" ", 1)[0]:
            table = self.state.exec(MASTER, "ipvsadm", "-Ln", check=False)
            for line in table.rstrip().splitlines():
                self.out(f"     ipvsadm -Ln | {line}")

    def vip_on_master(self) -> bool:
        """Both directors start together, so both wait the same master-down interval: for an
        instant both may hold the VIP, until the backup hears the master's higher priority
        (keepalived does the same; seen once in CI). The step waits for the settled state."""

        def settled() -> bool:
            return has_vip(self.state, MASTER) and not has_vip(self.state, BACKUP)

        took = wait_until(settled, 30)
        return self.record(Step(f"VIP {VIP} on {MASTER} (priority 100), not on {BACKUP}",
                                took is not None, took))  # fmt: skip

    def balanced(self, title: str, count: int = 20) -> bool:
        answers: list[str] = []

        def both_answer() -> bool:
            nonlocal answers
            answers = requests(self.state, count)
            seen = set(answers)
            return "" not in seen and {HOSTS["node-1"], HOSTS["node-2"]} <= seen

        took = wait_until(both_answer, 30, poll_s=0.5)
        return self.record(Step(title, took is not None, took, spread(answers)))

    def failover(self) -> bool:
        """SIGTERM to the pid in the master's -p file, as an operator stops keepalived."""
        start = time.monotonic()
        try:
            stop_director(self.state, MASTER)
        except LabError as exc:
            return self.record(Step(f"{MASTER} stopped by SIGTERM to its pid file", False,
                                    detail=str(exc)))  # fmt: skip

        def backup_serves() -> bool:
            return has_vip(self.state, BACKUP) and all(requests(self.state, 2))

        took = wait_until(backup_serves, 30)
        took = None if took is None else time.monotonic() - start
        left = self.left_behind()
        title = f"{MASTER} stopped (SIGTERM to its -p pid): {BACKUP} holds the VIP and serves"
        detail = "; ".join(left) or "it left no VIP, pid file or LVS entry"
        return self.record(Step(title, took is not None and not left, took, detail))

    def left_behind(self) -> list[str]:
        """What a graceful stop of the master left: the VIP, a pid file, IPVS entries or our
        nftables tables."""
        left = [f"VIP {VIP}"] if has_vip(self.state, MASTER) else []
        left += [f"pid file {p.name}" for p in pid_files(MASTER) if p.exists()]
        if self.backend().startswith("ipvs"):
            table = self.state.exec(MASTER, "ipvsadm", "-Ln", check=False)
            services = [line for line in table.splitlines() if line.startswith(("TCP", "UDP"))]
            left += [f"IPVS {' '.join(line.split())}" for line in services]
        else:
            tables = self.state.exec(MASTER, "nft", "list", "tables", check=False)
            left += [line for line in tables.splitlines() if "pykeepalived" in line]
        return left

    def preempt(self) -> bool:
        start_director(self.state, MASTER)

        def preempted() -> bool:
            return has_vip(self.state, MASTER) and not has_vip(self.state, BACKUP)

        took = wait_until(preempted, 30)
        ok = self.record(Step(f"{MASTER} back: it preempts, the VIP moves back", took is not None,
                              took))  # fmt: skip
        return ok and self.balanced("requests reach both web servers again")

    def web_down(self) -> bool:
        self.state.kill("web:node-1", signal.SIGTERM)
        answers: list[str] = []

        def only_node2() -> bool:
            nonlocal answers
            answers = requests(self.state, 6)
            return set(answers) == {HOSTS["node-2"]}

        took = wait_until(only_node2, 60, poll_s=0.3)
        title = "node-1's web server stopped: removed from the pool, node-2 serves everything"
        return self.record(Step(title, took is not None, took, spread(answers)))

    def web_back(self) -> bool:
        start_web(self.state, "node-1")
        return self.balanced("node-1 restarted: back in the pool")
