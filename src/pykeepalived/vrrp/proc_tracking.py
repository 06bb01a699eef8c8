"""Process tracking core: which running processes match each vrrp_track_process, and when its
quorum is gained or lost.

Rules: pure. It is told what happened to processes (a program was exec'd, a tracked process
forked or exited, a process renamed itself, or here is a full snapshot of /proc) and the time;
it answers with :class:`QuorumChange` verdicts that the driver turns into ``Kind.PROCESS``
observations. It never reads /proc, opens a socket or sleeps: the driver asks
:meth:`ProcessCounts.next_deadline` and calls :meth:`ProcessCounts.on_timer`.

keepalived 2.2.7's rules (``core/track_process.c``, keepalived.conf(5)):

- ``process NAME`` matches a process whose name (``/proc/PID/comm``, at most 15 characters)
  is exactly NAME; with ``full_command``, or whenever parameters or ``param_match`` are given,
  NAME is compared with the first word of ``/proc/PID/cmdline`` (argv[0]) instead.
- Parameters: ``exact`` (the default once parameters are given) wants argv[1:] equal to them;
  ``partial`` wants argv to start with them; ``initial`` is partial but the last one may be a
  prefix. ``param_match`` without parameters wants a process with no parameters at all.
- Zombies and threads do not count. The tracker is up while quorum <= count <= quorum_max;
  ``quorum_max 0`` means "up while none runs" (keepalived then sets quorum to 0).
- A status change caused by a fork of a tracked process waits ``fork_delay``, one caused by an
  exit waits ``terminate_delay``; if the count goes back before then, nothing is reported. A
  change seen at an exec or a rename is reported at once. After lost events keepalived rereads
  /proc and delays by direction (gained: fork_delay, lost: terminate_delay); so does
  :meth:`ProcessCounts.rescan`, which is also what the /proc polling fallback calls.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

COMM_MAX = 15  # TASK_COMM_LEN - 1: the kernel truncates longer names


class ParamMatch(Enum):
    NONE = "none"  # parameters are not looked at
    EXACT = "exact"
    PARTIAL = "partial"
    INITIAL = "initial"


class Proc(Protocol):
    """What the driver knows of one process (``kernel.proc_watch.ProcEntry`` is one)."""

    @property
    def comm(self) -> str: ...

    @property
    def argv(self) -> tuple[str, ...]: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessSpec:
    """One vrrp_track_process, resolved: ``params`` are what follows NAME on ``process``."""

    name: str
    path: str
    params: tuple[str, ...] = ()
    param_match: ParamMatch = ParamMatch.NONE
    full_command: bool = False
    quorum: int = 1
    quorum_max: int | None = None  # None: unlimited
    fork_delay_s: float = 0.0
    terminate_delay_s: float = 0.0

    def __post_init__(self) -> None:
        if not self.path:
            raise ValueError(f"track process {self.name}: no process name")
        if self.params and self.param_match is ParamMatch.NONE:
            raise ValueError(f"track process {self.name}: parameters need a param_match")
        if self.quorum_max is not None and self.quorum > self.quorum_max:
            raise ValueError(f"track process {self.name}: quorum is greater than quorum_max")
        if self.quorum < 0 or self.fork_delay_s < 0 or self.terminate_delay_s < 0:
            raise ValueError(f"track process {self.name}: negative quorum or delay")

    @property
    def uses_cmdline(self) -> bool:
        return self.full_command or self.param_match is not ParamMatch.NONE

    def matches(self, proc: Proc) -> bool:
        if not self.uses_cmdline:
            return proc.comm == self.path
        if not proc.argv or proc.argv[0] != self.path:
            return False
        return _params_match(self.param_match, self.params, proc.argv[1:])

    def up_with(self, count: int) -> bool:
        return self.quorum <= count and (self.quorum_max is None or count <= self.quorum_max)


def _params_match(how: ParamMatch, want: tuple[str, ...], got: tuple[str, ...]) -> bool:
    if how is ParamMatch.NONE:
        return True
    if how is ParamMatch.EXACT:
        return got == want
    if len(got) < len(want):
        return False
    if how is ParamMatch.PARTIAL or not want:
        return got[: len(want)] == want
    return got[: len(want) - 1] == want[:-1] and got[len(want) - 1].startswith(want[-1])


class Cause(Enum):
    """Why a count changed; it picks the delay before a status change is reported."""

    EXEC = "exec"  # at once
    FORK = "fork"  # fork_delay
    EXIT = "exit"  # terminate_delay
    RESCAN = "rescan"  # by direction: gained fork_delay, lost terminate_delay
    INITIAL = "initial"  # at once (the first scan: there is no status to protect yet)


@dataclass(frozen=True, slots=True, kw_only=True)
class QuorumChange:
    """A tracker's new status (keepalived logs "Quorum gained/lost for tracked process X")."""

    name: str
    up: bool
    count: int

    def log_line(self) -> str:
        return f"Quorum {'gained' if self.up else 'lost'} for tracked process {self.name}"


@dataclass
class _Tracker:
    spec: ProcessSpec
    pids: set[int] = field(default_factory=set)
    reported: bool | None = None  # None: not known yet
    due: float | None = None  # a delayed status change is reported then


class ProcessCounts:
    """The matching pids of every tracked process and the statuses reported so far."""

    def __init__(self, specs: list[ProcessSpec]) -> None:
        names = [s.name for s in specs]
        if len(set(names)) != len(names):
            raise ValueError("a track process is listed twice")
        self._trackers = {s.name: _Tracker(s) for s in specs}

    @property
    def uses_cmdline(self) -> bool:
        """Whether any tracker needs argv (else /proc/PID/cmdline need not be read)."""
        return any(t.spec.uses_cmdline for t in self._trackers.values())

    def status(self, name: str) -> bool | None:
        return self._trackers[name].reported

    def count(self, name: str) -> int:
        return len(self._trackers[name].pids)

    def tracked(self, pid: int) -> bool:
        return any(pid in t.pids for t in self._trackers.values())

    def exec(self, pid: int, proc: Proc, now: float) -> list[QuorumChange]:
        """``pid`` runs a (new) program, or is first seen: it counts where it matches now."""
        out: list[QuorumChange] = []
        for t in self._trackers.values():
            if self._move(t, pid, t.spec.matches(proc)):
                out += self._settle(t, Cause.EXEC, now)
        return out

    def renamed(self, pid: int, comm: str, now: float) -> list[QuorumChange]:
        """``pid`` changed its comm (prctl PR_SET_NAME): only name-matched trackers look."""
        out: list[QuorumChange] = []
        for t in self._trackers.values():
            if not t.spec.uses_cmdline and self._move(t, pid, comm == t.spec.path):
                out += self._settle(t, Cause.EXEC, now)
        return out

    def fork(self, parent: int, child: int, now: float) -> list[QuorumChange]:
        """A tracked process forked: the child runs the same program until it execs."""
        out: list[QuorumChange] = []
        for t in self._trackers.values():
            if parent in t.pids and self._move(t, child, True):
                out += self._settle(t, Cause.FORK, now)
        return out

    def exit(self, pid: int, now: float) -> list[QuorumChange]:
        out: list[QuorumChange] = []
        for t in self._trackers.values():
            if self._move(t, pid, False):
                out += self._settle(t, Cause.EXIT, now)
        return out

    def rescan(
        self, procs: Mapping[int, Proc], now: float, *, initial: bool = False
    ) -> list[QuorumChange]:
        """Every live process (a /proc scan): counts start again from it. ``initial``: the
        statuses are reported at once; otherwise a change waits by direction."""
        cause = Cause.INITIAL if initial else Cause.RESCAN
        out: list[QuorumChange] = []
        for t in self._trackers.values():
            t.pids = {pid for pid, proc in procs.items() if t.spec.matches(proc)}
            out += self._settle(t, cause, now)
        return out

    def next_deadline(self) -> float | None:
        dues = [t.due for t in self._trackers.values() if t.due is not None]
        return min(dues, default=None)

    def on_timer(self, now: float) -> list[QuorumChange]:
        """Report the delayed changes that are due (the count decides, as it is now)."""
        out: list[QuorumChange] = []
        for t in self._trackers.values():
            if t.due is not None and t.due <= now:
                t.due = None
                out += self._report(t)
        return out

    @staticmethod
    def _move(t: _Tracker, pid: int, member: bool) -> bool:
        """Add or remove ``pid``; whether the set changed."""
        if member == (pid in t.pids):
            return False
        if member:
            t.pids.add(pid)
        else:
            t.pids.discard(pid)
        return True

    def _settle(self, t: _Tracker, cause: Cause, now: float) -> list[QuorumChange]:
        up = t.spec.up_with(len(t.pids))
        if up == t.reported:
            t.due = None  # back where it was: a pending change is dropped
            return []
        delay = _delay(t.spec, cause, up)
        if delay <= 0:
            t.due = None
            return self._report(t)
        if t.due is None:  # an earlier delay keeps its deadline
            t.due = now + delay
        return []

    @staticmethod
    def _report(t: _Tracker) -> list[QuorumChange]:
        up = t.spec.up_with(len(t.pids))
        if up == t.reported:
            return []
        t.reported = up
        return [QuorumChange(name=t.spec.name, up=up, count=len(t.pids))]


def _delay(spec: ProcessSpec, cause: Cause, up: bool) -> float:
    if cause is Cause.FORK:
        return spec.fork_delay_s
    if cause is Cause.EXIT:
        return spec.terminate_delay_s
    if cause is Cause.RESCAN:
        return spec.fork_delay_s if up else spec.terminate_delay_s
    return 0.0
