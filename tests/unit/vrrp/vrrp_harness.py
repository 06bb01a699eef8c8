"""A simulated LAN of VRRP hosts driven by a FakeClock (in the spirit of aioquic's
``client_and_server``): every ``SendAdvert`` reaches the other live hosts after ``delay_s``.

The harness is the only "driver" here: it asks each host for its next timer, advances the fake
clock to the earliest timer or delivery, runs it, and records a timeline of states so tests can
assert behaviour ("who is master at t", "how long were there two masters").
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass, field
from ipaddress import ip_address

from pykeepalived.clock import FakeClock
from pykeepalived.vrrp.events import (
    Action,
    AdvertReceived,
    Log,
    PriorityChanged,
    SendAdvert,
    StateChanged,
)
from pykeepalived.vrrp.group import SyncGroup, Tagged
from pykeepalived.vrrp.hold import API_HOLDER, Hold
from pykeepalived.vrrp.instance import Instance
from pykeepalived.vrrp.params import InstanceParams
from pykeepalived.vrrp.router import Router
from pykeepalived.vrrp.states import State
from pykeepalived.vrrp.tracking import Verdict


def params(**kw: object) -> InstanceParams:
    """InstanceParams with test defaults: VI_1, VRID 51, v2, 1 s, the address passed as ``ip``."""
    ip = ip_address(str(kw.pop("ip", "10.0.0.1")))
    fields: dict[str, object] = {"name": "VI_1", "virtual_router_id": 51, "primary_ip": ip}
    fields.update(kw)
    return InstanceParams(**fields)  # type: ignore[arg-type]


class Host:
    """One machine running one VRRP process: a ``Router`` over its instances and sync groups."""

    def __init__(
        self, name: str, instances: list[Instance], groups: dict[str, list[str]] | None = None
    ) -> None:
        self.name = name
        self.alive = True
        self.router = Router(instances, groups)

    @property
    def instances(self) -> list[Instance]:
        return list(self.router.instances.values())

    @property
    def group(self) -> SyncGroup | None:
        return next(iter(self.router.groups.values()), None)

    def by_vrid(self, vrid: int) -> Instance | None:
        return next((i for i in self.instances if i.params.virtual_router_id == vrid), None)

    def instance(self, name: str) -> Instance:
        return self.router.instance(name)

    def drop(self, name: str) -> None:
        """That instance vanishes silently (its process part died); the others go on."""
        self.router = Router([i for i in self.instances if i.name != name])

    def start(self, now: float) -> list[Tagged]:
        return self.router.start(now)

    def get_timer(self) -> float | None:
        return self.router.get_timer()

    def handle_timer(self, now: float) -> list[Tagged]:
        return self.router.handle_timer(now)

    def deliver(self, advert: AdvertReceived, now: float) -> list[Tagged]:
        inst = self.by_vrid(advert.vrid)
        if inst is None:
            return []
        return self.router.handle_advert(inst.name, advert, now)

    def fault(self, name: str, on: bool, now: float, holder: str = "tracking") -> list[Tagged]:
        if on:
            return self.router.hold_fault(name, holder, "test fault", now)
        return self.router.release_fault(name, holder, now)

    def track(self, name: str, result: Verdict, now: float) -> list[Tagged]:
        return self.router.apply_verdict(name, result, now)

    def shutdown(self, now: float) -> list[Tagged]:
        return self.router.shutdown(now)


def _tag(inst: Instance, actions: list[Action]) -> list[Tagged]:
    return [Tagged(source=inst.name, action=a) for a in actions]


# Every Lan built during a test, so a fixture can check the whole timeline afterwards.
LANS: list[Lan] = []


def assert_never_two_masters_longer_than_an_interval() -> None:
    """The timeline invariant: without a partition, two live masters of one VRID never coexist
    for longer than one advert interval."""
    for lan in LANS:
        if lan.allow_split_brain:
            continue
        for vrid in lan.vrids():
            longest = lan.split_brain_s(vrid)
            assert longest <= lan.advert_int_s(vrid), f"VRID {vrid}: two masters for {longest}s"
    LANS.clear()


@dataclass(frozen=True)
class Record:
    time: float
    host: str
    source: str
    action: Action


@dataclass
class Lan:
    """The wire and the scheduler. ``delay_s`` is the one-way latency of every advert."""

    hosts: dict[str, Host]
    delay_s: float = 0.001
    clock: FakeClock = field(default_factory=lambda: FakeClock(start=1000.0))
    records: list[Record] = field(default_factory=list)
    cut: set[frozenset[str]] = field(default_factory=set)
    allow_split_brain: bool = False
    muted: set[tuple[str, int]] = field(default_factory=set)  # (host, VRID) adverts dropped
    _queue: list[tuple[float, int, str, AdvertReceived]] = field(default_factory=list)
    _seq: itertools.count[int] = field(default_factory=itertools.count)
    _dual: dict[int, float | None] = field(default_factory=dict)
    longest_dual_s: dict[int, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        LANS.append(self)

    @classmethod
    def of(cls, *instances: Instance, delay_s: float = 0.001) -> Lan:
        """One host per instance, named after the instance's address."""
        hosts = {str(i.params.primary_ip): Host(str(i.params.primary_ip), [i]) for i in instances}
        return cls(hosts=hosts, delay_s=delay_s)

    @property
    def now(self) -> float:
        return self.clock.now()

    def start(self, *names: str) -> None:
        for name in names or tuple(self.hosts):
            self._apply(self.hosts[name], self.hosts[name].start(self.now))

    def run(self, seconds: float) -> None:
        self.run_until(self.now + seconds)

    def run_until(self, until: float) -> None:
        while True:
            nxt = self._next_instant()
            if nxt is None or nxt > until:
                break
            self.clock.advance(max(0.0, nxt - self.now))
            self._run_instant()
        if until > self.now:
            self.clock.advance(until - self.now)

    def _next_instant(self) -> float | None:
        timers = [h.get_timer() for h in self.hosts.values() if h.alive]
        times = [t for t in timers if t is not None]
        if self._queue:
            times.append(self._queue[0][0])
        return min(times) if times else None

    def _run_instant(self) -> None:
        now = self.now
        for host in self.hosts.values():
            timer = host.get_timer()
            if host.alive and timer is not None and timer <= now:
                self._apply(host, host.handle_timer(now))
                after = host.get_timer()
                assert after is None or after > now, f"{host.name}: timer {after} not after {now}"
        while self._queue and self._queue[0][0] <= now:
            _, _, dst, advert = heapq.heappop(self._queue)
            host = self.hosts[dst]
            if host.alive:
                self._apply(host, host.deliver(advert, now))

    def _apply(self, host: Host, tagged: list[Tagged]) -> None:
        timer = host.get_timer()
        assert timer is None or timer >= self.now, f"{host.name}: timer {timer} in the past"
        for t in tagged:
            self.records.append(Record(self.now, host.name, t.source, t.action))
            if isinstance(t.action, SendAdvert):
                self._send(host, host.instance(t.source), t.action.priority)
        self._check_dual_masters()

    def _send(self, host: Host, inst: Instance, priority: int) -> None:
        p = inst.params
        advert = AdvertReceived(
            source=p.primary_ip,
            vrid=p.virtual_router_id,
            version=p.version,
            priority=priority,
            advert_int_cs=p.advert_int_cs,
        )
        if (host.name, p.virtual_router_id) in self.muted:
            return
        for other in self.hosts.values():
            if other is host or frozenset((host.name, other.name)) in self.cut:
                continue
            entry = (self.now + self.delay_s, next(self._seq), other.name, advert)
            heapq.heappush(self._queue, entry)

    def _check_dual_masters(self) -> None:
        for vrid in self.vrids():
            dual = len(self.masters(vrid)) > 1
            since = self._dual.get(vrid)
            if dual and since is None:
                self._dual[vrid] = self.now
            elif not dual and since is not None:
                self._dual[vrid] = None
                longest = max(self.longest_dual_s.get(vrid, 0.0), self.now - since)
                self.longest_dual_s[vrid] = longest

    # -- what tests ask -------------------------------------------------------------------------

    def masters(self, vrid: int = 51) -> set[str]:
        return {
            h.name
            for h in self.hosts.values()
            if h.alive and (i := h.by_vrid(vrid)) is not None and i.state is State.MASTER
        }

    def state(self, host: str, vrid: int = 51) -> State:
        inst = self.hosts[host].by_vrid(vrid)
        assert inst is not None
        return inst.state

    def split_brain_s(self, vrid: int = 51) -> float:
        """Longest time with two or more live masters, including one still running now."""
        since = self._dual.get(vrid)
        ongoing = self.now - since if since is not None else 0.0
        return max(self.longest_dual_s.get(vrid, 0.0), ongoing)

    def transitions(self, host: str | None = None) -> list[tuple[float, str, State]]:
        return [
            (r.time, r.host, r.action.new)
            for r in self.records
            if isinstance(r.action, StateChanged)
            and (host is None or r.host == host)
            and not self._is_group(r)
        ]

    def _is_group(self, record: Record) -> bool:
        group = self.hosts[record.host].group
        return group is not None and record.source == group.name

    def became(self, host: str, state: State, after: float = 0.0) -> float:
        """When ``host`` first entered ``state`` at or after ``after``."""
        for t, _host, s in self.transitions(host):
            if s is state and t >= after:
                return t
        raise AssertionError(f"{host} never became {state.value} after {after}")

    def logs(self, host: str | None = None) -> list[str]:
        return [
            r.action.message
            for r in self.records
            if isinstance(r.action, Log | StateChanged | PriorityChanged)
            and r.action.message
            and (host is None or r.host == host)
        ]

    # -- faults on the wire or the hosts --------------------------------------------------------

    def track(self, host: str, result: Verdict, name: str = "VI_1") -> None:
        """Tracking on ``host`` produced ``result`` for instance ``name``."""
        h = self.hosts[host]
        self._apply(h, h.track(name, result, self.now))

    def fault(self, host: str, on: bool, name: str = "VI_1") -> None:
        h = self.hosts[host]
        self._apply(h, h.fault(name, on, self.now))

    def pending(self, host: str, on: bool, name: str = "VI_1") -> None:
        """A tracker without a result yet holds ``name`` (keepalived's script init), or not."""
        router = self.hosts[host].router
        if on:
            held = router.hold_fault(
                name, "init", "script has no result yet", self.now, pending=True
            )
        else:
            held = router.release_fault(name, "init", self.now)
        self._apply(self.hosts[host], held)

    def hold(self, host: str, hold: Hold | None, name: str = "VI_1") -> None:
        """A mastership hold (the API's release-master) on ``host``, or None: lift the API's."""
        router = self.hosts[host].router
        if hold is not None:
            self._apply(self.hosts[host], router.hold_backup(name, hold, self.now))
        else:
            self._apply(self.hosts[host], router.release_backup(name, API_HOLDER, self.now))

    def partition(self, a: str, b: str) -> None:
        """Cut the wire between ``a`` and ``b``: both may be master until :meth:`heal`."""
        self.allow_split_brain = True
        self.cut.add(frozenset((a, b)))

    def heal(self) -> None:
        self.cut.clear()

    def vrids(self) -> set[int]:
        return {i.params.virtual_router_id for h in self.hosts.values() for i in h.instances}

    def advert_int_s(self, vrid: int) -> float:
        return min(
            i.params.advert_int_s
            for h in self.hosts.values()
            for i in h.instances
            if i.params.virtual_router_id == vrid
        )

    def kill(self, host: str) -> None:
        """The host dies silently: no priority 0, no more adverts, nothing delivered to it."""
        self.hosts[host].alive = False
        self._check_dual_masters()

    def stop(self, host: str) -> None:
        """Graceful shutdown: a master sends priority 0."""
        h = self.hosts[host]
        self._apply(h, h.shutdown(self.now))
        h.alive = False
        self._check_dual_masters()

    def reload(self, host: str, *instances: Instance) -> None:
        """A config reload: fresh standalone instances resume their predecessors' states."""
        h = self.hosts[host]
        previous = {i.name: i.state for i in h.instances}
        h.router = Router(instances)
        for inst in instances:
            was = previous.get(inst.name, State.INIT)
            self._apply(h, _tag(inst, inst.resume(was, self.now)))

    def revive(
        self, host: str, *instances: Instance, groups: dict[str, list[str]] | None = None
    ) -> None:
        """The host comes back with fresh instances (a restarted daemon) and starts them."""
        self.hosts[host] = Host(host, list(instances), groups)
        self.start(host)
