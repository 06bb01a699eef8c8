"""Which VIPs this director announces: health and data-plane phase in, BGP actions out.

Rules: pure (no asyncio, no clock: ``now`` is a parameter, ``next_deadline`` says when to call
again). A VIP is announced only while all of these hold:

* its gate is true: ``all`` = every virtual server on the VIP has quorum, ``any`` = at least
  one has, ``always`` = no health condition;
* the data plane has been programmed for it: announcements are computed only *after* an apply
  (``after_apply``), and a VIP whose services failed to program is not announced;
* the gate has held for ``announce_delay_s`` (a director coming back waits until its checkers
  have settled, so that its real-server list, hence its Maglev table, is the other directors');
* the core is running (not stopped).

Withdrawals come *first*: ``before_apply`` is called with the new health before the data plane
changes, and ``stop`` withdraws everything before the data plane is removed, so the router
moves the flows to the other directors while this one still forwards them. The transitions
of one VIP are a two-state table (withdrawn <-> announced), checked on every change.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum

from pykeepalived.config.model import KeepalivedConfig


class Verb(Enum):
    ANNOUNCE = "announce"
    WITHDRAW = "withdraw"


@dataclass(frozen=True, slots=True)
class Action:
    verb: Verb
    prefix: str
    why: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    """One announced prefix and the virtual servers (``VirtualServer.id``) that gate it."""

    prefix: str
    gate: str  # "all", "any" or "always"
    virtual_servers: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.gate not in ("all", "any", "always"):
            raise ValueError(f"unknown gate {self.gate!r}")

    def holds(self, quorum_up: Mapping[str, bool]) -> bool:
        if self.gate == "always":
            return True
        ups = [quorum_up.get(vs, False) for vs in self.virtual_servers]
        if not ups:
            return False
        return all(ups) if self.gate == "all" else any(ups)


def rules_from_config(config: KeepalivedConfig) -> tuple[Rule, ...]:
    """The ``announce`` lines, or by default every virtual server address (gate ``all``)."""
    speaker = config.bgp_speaker
    if speaker is None:
        return ()
    by_vip: dict[str, list[str]] = {}
    for vs in config.virtual_server:
        if vs.ip is not None:
            by_vip.setdefault(f"{vs.ip}/{vs.ip.max_prefixlen}", []).append(vs.id)
    if speaker.announce is None:
        return tuple(
            Rule(prefix=p, gate="all", virtual_servers=tuple(v)) for p, v in by_vip.items()
        )
    return tuple(
        Rule(prefix=line.prefix, gate=line.gate, virtual_servers=tuple(by_vip.get(line.prefix, ())))
        for line in speaker.announce
    )


ALLOWED = {(False, Verb.ANNOUNCE), (True, Verb.WITHDRAW)}  # (announced now, verb)


@dataclass
class Announcer:
    rules: tuple[Rule, ...]
    announce_delay_s: float = 0.0
    announced: set[str] = field(default_factory=set)
    stopped: bool = False
    _since: dict[str, float] = field(default_factory=dict)  # prefix -> when its gate became true
    _programmed: bool = False

    def before_apply(self, quorum_up: Mapping[str, bool], now: float) -> list[Action]:
        """Withdraw what the new health no longer allows; call before the data plane changes.
        A prefix no longer in ``rules`` (a reload removed it) is withdrawn too."""
        self._track(quorum_up, now)
        out = [self._step(Verb.WITHDRAW, p, "no longer announced") for p in self._orphans()]
        for rule in self.rules:
            if rule.prefix in self.announced and not rule.holds(quorum_up):
                out.append(self._step(Verb.WITHDRAW, rule.prefix, "health: gate " + rule.gate))
        return out

    def _orphans(self) -> list[str]:
        return sorted(self.announced - {rule.prefix for rule in self.rules})

    def after_apply(
        self, quorum_up: Mapping[str, bool], now: float, failed: Iterable[str] = ()
    ) -> list[Action]:
        """Announce what is allowed once the data plane holds the table; ``failed``: virtual
        servers whose services did not program (their VIPs are withdrawn, not announced)."""
        self._programmed = True
        self._track(quorum_up, now)
        bad = set(failed)
        out = [self._step(Verb.WITHDRAW, p, "no longer announced") for p in self._orphans()]
        for rule in self.rules:
            broken = bool(bad.intersection(rule.virtual_servers))
            up = rule.holds(quorum_up) and not broken
            if rule.prefix in self.announced and not up:
                why = "data plane failed" if broken else "health: gate " + rule.gate
                out.append(self._step(Verb.WITHDRAW, rule.prefix, why))
            elif up and rule.prefix not in self.announced and self._settled(rule.prefix, now):
                out.append(self._step(Verb.ANNOUNCE, rule.prefix, "healthy, data plane programmed"))
        return out

    def stop(self, why: str = "stopping") -> list[Action]:
        """Withdraw everything, for good: stop, or a fatal error."""
        self.stopped = True
        return [self._step(Verb.WITHDRAW, p, why) for p in sorted(self.announced)]

    def not_announced(self, prefix: str) -> None:
        """The engine refused or could not take an announcement: count it as withdrawn, so
        that the next ``after_apply`` tries again (its gate's time is kept)."""
        self.announced.discard(prefix)

    def next_deadline(self, now: float) -> float | None:
        """When a pending announcement's delay ends (call ``after_apply`` again then)."""
        if self.stopped or not self._programmed:
            return None
        ends = [
            t + self.announce_delay_s for p, t in self._since.items() if p not in self.announced
        ]
        later = [end for end in ends if end > now]
        return min(later) if later else None

    def _track(self, quorum_up: Mapping[str, bool], now: float) -> None:
        for rule in self.rules:
            if rule.holds(quorum_up):
                self._since.setdefault(rule.prefix, now)
            else:
                self._since.pop(rule.prefix, None)

    def _settled(self, prefix: str, now: float) -> bool:
        if self.stopped:
            return False
        since = self._since.get(prefix)
        return since is not None and now - since >= self.announce_delay_s

    def _step(self, verb: Verb, prefix: str, why: str) -> Action:
        now_announced = prefix in self.announced
        if (now_announced, verb) not in ALLOWED:
            raise AssertionError(f"{verb.value} {prefix} while announced={now_announced}")
        if verb is Verb.ANNOUNCE:
            self.announced.add(prefix)
        else:
            self.announced.discard(prefix)
        return Action(verb, prefix, why)
