"""The active-active scenario: each step acts on the lab, measures, and reports with times.

Rules: every measurement is a function returning a small result, so ``lab run --active-active``
prints them and the tests assert on the same numbers. Times are measured from outside (the
router's route as ``ip route`` shows it, the client's downloads), except the health verdict,
which is the director's own log line. Bounds are generous: the machine is shared.
"""

import signal
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pykeepalived.lab.aa_topology import DIRECTORS, WEBS, ActiveActive, RouteWatch
from pykeepalived.lab.scenario import Step

STREAM_PORTS = tuple(range(40001, 40019))
ALL = set(DIRECTORS)


@dataclass(frozen=True, slots=True)
class Streams:
    results: Sequence[dict[str, Any]]

    @property
    def broken(self) -> list[int]:
        return [int(s["sport"]) for s in self.results if not s["ok"]]

    @property
    def longest_stall_s(self) -> float:
        return max((float(s["max_stall_s"]) for s in self.results if s["ok"]), default=0.0)

    def line(self) -> str:
        n, bad = len(self.results), self.broken
        return (f"{n - len(bad)}/{n} downloads complete, longest stall {self.longest_stall_s:.2f} s"
                + (f", reset: source ports {bad}" if bad else ""))  # fmt: skip


@dataclass(frozen=True, slots=True)
class Spread:
    webs: Counter[str]
    directors: Counter[str]
    failed: int


@dataclass(frozen=True, slots=True)
class Event:
    """A director lost and back: who, how long the router took, the downloads across it."""

    victim: str
    gone_s: float | None
    back_s: float | None
    streams: Streams
    extra: dict[str, float | None] = field(default_factory=dict)


def spread(lab: ActiveActive, count: int = 60, base: int = 41000) -> Spread:
    import json

    answers = json.loads(lab.client("connections", "--count", str(count), "--base-port",
                                    str(base)))["answers"]  # fmt: skip
    names = {a: n for n, a in WEBS.items()}
    webs = Counter(names.get(a, "failed") for a in answers if a)
    ports = set(range(base, base + count))
    directors = Counter({d: len(lab.flows(d) & ports) for d in DIRECTORS})
    return Spread(webs=webs, directors=directors, failed=sum(1 for a in answers if not a))


def _carrier(lab: ActiveActive, ports: Sequence[int], skip: set[str] | None = None) -> str:
    """The director that forwards most of the running downloads."""
    load = {d: len(lab.flows(d) & set(ports)) for d in DIRECTORS if d not in (skip or set())}
    return max(sorted(load), key=lambda d: load[d])


def _until_gone(lab: ActiveActive, victim: str, timeout_s: float) -> float | None:
    """Wall-clock time at which the router was seen without ``victim``'s path (polled)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if victim not in lab.paths():
            return time.time()
        time.sleep(0.005)
    return None


def health_withdraw(
    lab: ActiveActive, seconds: float = 10.0, ports: Sequence[int] = STREAM_PORTS
) -> Event:
    """A director's checks fail mid-download; it withdraws; healed, it announces again."""
    run = lab.start_streams(seconds, ports)
    time.sleep(1.5)
    victim = _carrier(lab, ports)
    watch = RouteWatch.start(lab)
    start = time.time()
    lab.break_checks(victim)
    seen = _until_gone(lab, victim, 10)
    changed = watch.stop_and_find_gone(victim, start)  # the kernel's time, not our polling's
    verdicts = [t for t in lab.log_times(victim, "Removing service from VS") if t >= start - 0.05]
    after_verdict = changed - max(verdicts) if changed is not None and verdicts else None
    time.sleep(1.0)
    lab.heal_checks(victim)
    back = lab.wait_paths(ALL, 15)
    gone = seen - start if seen is not None else None
    return Event(victim, gone, back, Streams(run.result()), {"after_verdict_s": after_verdict})


def crash(lab: ActiveActive, seconds: float = 8.0, ports: Sequence[int] = STREAM_PORTS) -> Event:
    """SIGKILL to a director carrying downloads (its speaker dies with it); then it restarts."""
    run = lab.start_streams(seconds, ports)
    time.sleep(1.5)
    victim = _carrier(lab, ports)
    start = time.time()
    lab.stop_director(victim, signal.SIGKILL)
    seen = _until_gone(lab, victim, 10)
    lab.start_director(victim)
    back = lab.wait_paths(ALL, 20)
    gone = seen - start if seen is not None else None
    return Event(victim, gone, back, Streams(run.result()))


def cut_off(lab: ActiveActive, seconds: float = 12.0, ports: Sequence[int] = STREAM_PORTS) -> Event:
    """A director that goes silent without closing anything (its link down, as a machine that
    froze or lost power): the router notices after the hold time, or BFD's detection time."""
    run = lab.start_streams(seconds, ports)
    time.sleep(1.5)
    victim = _carrier(lab, ports)
    start = time.time()
    lab.state.exec(victim, "ip", "link", "set", "eth1", "down")
    seen = _until_gone(lab, victim, 15)
    lab.state.exec(victim, "ip", "link", "set", "eth1", "up")
    back = lab.wait_paths(ALL, 20)
    gone = seen - start if seen is not None else None
    return Event(victim, gone, back, Streams(run.result()))


def graceful_stop(lab: ActiveActive, victim: str = "dir-2") -> Event:
    """SIGTERM: the path must leave the router before the director removes its table."""
    run = lab.start_streams(5.0, STREAM_PORTS)
    time.sleep(1.5)
    proc = lab.procs.pop(f"director:{victim}")
    lab.state.pids.pop(f"director:{victim}")
    lab.state.save()
    start = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    path_gone = table_gone = None
    while time.monotonic() - start < 15 and (path_gone is None or table_gone is None):
        paths, table = lab.paths(), lab.has_table(victim)
        now = time.monotonic() - start
        if path_gone is None and victim not in paths:
            path_gone = now
        if table_gone is None and not table:
            table_gone = now
        time.sleep(0.005)
    proc.wait(timeout=15)
    lab.start_director(victim)
    back = lab.wait_paths(ALL, 20)
    return Event(victim, path_gone, back, Streams(run.result()), {"table_gone_s": table_gone})


def other_seed(lab: ActiveActive, odd: str = "dir-2", seed: int = 0x1234) -> Event:
    """Negative: ``odd`` hashes with another seed. Downloads start while it is withdrawn (they
    go through the others), then it comes back and the others withdraw, so that every
    download moves onto it: those it hashes to the other web server are reset."""
    lab.stop_director(odd)
    lab.start_director(odd, seed=seed)
    lab.wait_paths(ALL, 20)
    lab.break_checks(odd)
    lab.wait_paths(ALL - {odd}, 10)
    run = lab.start_streams(6.0, STREAM_PORTS)
    time.sleep(1.5)
    lab.heal_checks(odd)
    back = lab.wait_paths(ALL, 10)
    start = time.time()
    for other in ALL - {odd}:
        lab.break_checks(other)
    seen = _until_gone(lab, min(ALL - {odd}), 10)
    lab.wait_paths({odd}, 10)
    streams = Streams(run.result())
    for other in ALL - {odd}:
        lab.heal_checks(other)
    lab.stop_director(odd)
    lab.start_director(odd)
    lab.wait_paths(ALL, 20)
    return Event(odd, seen - start if seen is not None else None, back, streams)


class ActiveActiveScenario:
    def __init__(self, lab: ActiveActive, out: Callable[[str], None]) -> None:
        self.lab, self.out, self.steps = lab, out, list[Step]()

    def record(self, step: Step) -> bool:
        self.steps.append(step)
        self.out(step.line(len(self.steps)))
        return step.ok

    def run(self) -> bool:
        lab = self.lab
        took = lab.wait_paths(ALL, 30)
        ok = self.record(Step(f"router has one ECMP route over {', '.join(sorted(ALL))} "
                              f"({lab.speaker})", took is not None, took))  # fmt: skip
        s = spread(lab)
        detail = (f"directors {dict(sorted(s.directors.items()))}, web servers "
                  f"{dict(sorted(s.webs.items()))}, failed {s.failed}")  # fmt: skip
        ok &= self.record(Step("60 new connections spread over every director and web server",
                               s.failed == 0 and len(+s.directors) == 3 and len(+s.webs) == 2,
                               detail=detail))  # fmt: skip
        ok &= self._event("checks fail on {v}: it withdraws; healed, it announces again",
                          health_withdraw(lab))  # fmt: skip
        ok &= self._event(
            "{v} killed (SIGKILL): its path leaves; restarted, it rejoins", crash(lab)
        )
        e = cut_off(lab)
        bound = 0.5 if lab.bfd else 3.0 + 1.0
        how = "BFD 100 ms x 3" if lab.bfd else "hold time 3 s"
        ok &= self.record(Step(f"{e.victim} cut off (link down, nothing closed): its path leaves "
                               f"after the {how}", e.gone_s is not None and e.gone_s < bound
                               and e.back_s is not None and not e.streams.broken, e.gone_s,
                               f"path gone {e.gone_s or 0:.2f} s, back {e.back_s or 0:.2f} s; "
                               + e.streams.line()))  # fmt: skip
        e = graceful_stop(lab)
        table = e.extra["table_gone_s"]
        good = e.gone_s is not None and table is not None and e.gone_s < table
        ok &= self.record(Step(f"{e.victim} stopped (SIGTERM): route withdrawn before its table",
                               good and not e.streams.broken, e.gone_s,
                               f"route gone {e.gone_s or 0:.3f} s, table gone {table or 0:.3f} s; "
                               f"{e.streams.line()}"))  # fmt: skip
        e = other_seed(lab)
        title = "negative: dir-2 hashes with another seed: downloads moved onto it reset"
        ok &= self.record(Step(title, len(e.streams.broken) >= 2, detail=e.streams.line()))
        verdict = "all steps passed" if ok else "a step FAILED"
        self.out(f"Active-active scenario: {verdict} ({len(self.steps)} steps)")
        return bool(ok)

    def _event(self, title: str, e: Event) -> bool:
        good = e.gone_s is not None and e.back_s is not None and not e.streams.broken
        extra = "".join(f", {k} {v:.3f}" for k, v in e.extra.items() if v is not None)
        detail = f"path gone {e.gone_s or 0:.3f} s{extra}, back {e.back_s or 0:.2f} s; "
        return self.record(Step(title.format(v=e.victim), good, e.gone_s,
                                detail + e.streams.line()))  # fmt: skip
