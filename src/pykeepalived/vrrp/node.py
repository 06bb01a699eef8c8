"""The VRRP driver: every vrrp_instance of a config, on real sockets, addresses and links.

Rules: asyncio glue (L3) around the pure cores. It builds one unit per sync group or standalone
instance, opens one VRRP socket per (interface, family, source, multicast or unicast), feeds
received adverts and timer expiries to the cores and performs the actions they return, in
order, under one lock. It depends on the kernel *ports* only (``kernel.ports``); the
composition root passes real adapters. Bad packets are dropped, counted by reason and logged
at a limited rate; they never change state.
"""

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field

from pykeepalived.clock import Clock
from pykeepalived.config.model import KeepalivedConfig
from pykeepalived.errors import KernelError
from pykeepalived.kernel.ports import (
    AddressPort,
    AnnouncePort,
    EarlyReceived,
    IPAddress,
    LinkPort,
    Received,
    VipFirewallPort,
    VrrpTransport,
)
from pykeepalived.notify import ScriptRunner
from pykeepalived.vrrp import early_start
from pykeepalived.vrrp.events import AddVips, AdvertReceived, InstanceSnapshot, RemoveVips
from pykeepalived.vrrp.from_config import (
    drops_vip_traffic,
    instance_params,
    tracks,
    used_files,
    used_scripts,
)
from pykeepalived.vrrp.group import SyncGroup, Tagged
from pykeepalived.vrrp.hold import Hold, HoldOutcome
from pykeepalived.vrrp.instance import Instance
from pykeepalived.vrrp.ipheader import split_ipv4
from pykeepalived.vrrp.node_actions import ActionPerformer, InstanceIO, InstanceStats, instance_io
from pykeepalived.vrrp.node_extras import NodeExtras, RoutePort, VmacPort, extras_of, static_of
from pykeepalived.vrrp.packet import VrrpPacketError, parse
from pykeepalived.vrrp.receive import validate
from pykeepalived.vrrp.states import State
from pykeepalived.vrrp.trackers import FileTrackers, ScriptTracker, disabled_scripts
from pykeepalived.vrrp.tracking import InstanceTracking, Kind, apply_verdict
from pykeepalived.vrrp.unicast import NO_PEER_FAULT, faults_for_no_peer, refusal
from pykeepalived.vrrp.units import Solo, Unit

log = logging.getLogger("pykeepalived.vrrp")
OPEN_ATTEMPTS = 10
EPOLL_GRAIN_S = 0.001
POLL_SLACK = 0.0011  # the kernel's select/poll timer slack: 0.1% of the timeout, and margin
MAX_BACKDATE_S = 1.0  # an advert older than this when read is taken as read now

SocketKey = tuple[str, int, IPAddress, bool]  # interface, family, source, unicast
OpenTransport = Callable[[str, IPAddress, IPAddress | None], VrrpTransport]


@dataclass
class VrrpPorts:
    addresses: AddressPort
    announcer: AnnouncePort
    links: LinkPort
    open_transport: OpenTransport
    primary_address: Callable[[str, int], Awaitable[IPAddress]]
    scripts: ScriptRunner
    clock: Clock
    firewall: VipFirewallPort | None = None  # no_accept / vrrp_strict
    routes: RoutePort | None = None
    vmacs: VmacPort | None = None
    release_early: Callable[[], None] | None = None
    """Closes the receive sockets opened at process start that no transport adopted."""


@dataclass
class VrrpNode:
    config: KeepalivedConfig
    ports: VrrpPorts
    log_detail: bool = False
    errors: Counter[str] = field(default_factory=Counter)
    resume: dict[str, State] = field(default_factory=dict)
    """Instances taken over from a predecessor node (reload): they keep their state and VIPs."""
    handover: set[str] = field(default_factory=set)
    """Instances handed to a successor node (reload): on stop they send nothing, keep VIPs."""
    keep_static: bool = False
    """A successor node carries on (reload): static routes and rules stay at stop."""
    holds: dict[str, tuple[Hold, ...]] = field(default_factory=dict)
    """Mastership holds taken over from a predecessor node (reload), by instance."""
    stats: dict[str, InstanceStats] = field(default_factory=dict)
    """Per-instance counters; a reload hands them on, so counters never go back."""
    _units: dict[str, Unit] = field(default_factory=dict)
    _unit_of: dict[str, Unit] = field(default_factory=dict)
    _io: dict[str, InstanceIO] = field(default_factory=dict)
    _trackings: dict[str, InstanceTracking] = field(default_factory=dict)
    _cores: dict[str, Instance] = field(default_factory=dict)
    _watched_links: set[str] = field(default_factory=set)
    _sockets: dict[SocketKey, VrrpTransport] = field(default_factory=dict)
    _by_socket: dict[tuple[SocketKey, int], str] = field(default_factory=dict)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _performer: ActionPerformer | None = None
    _extras: NodeExtras | None = None
    _stopped: bool = False
    _last_now: float = float("-inf")  # the latest instant given to the cores
    _disabled: set[str] = field(default_factory=set)  # vrrp_scripts keepalived would drop
    # Set once every unit has started (sockets open, timers armed): the daemon starts its
    # LVS half's imports only then, so they do not slow this start (docs/benchmarks.md).
    started: asyncio.Event = field(default_factory=asyncio.Event)

    # -- building ---------------------------------------------------------------------------

    async def build(self) -> None:
        in_group = {m.name for g in self.config.vrrp_sync_group for m in g.group}
        secure = self.config.global_defs.enable_script_security
        self._disabled = disabled_scripts(used_scripts(self.config), secure=secure)
        instances: dict[str, Instance] = {}
        self._extras = NodeExtras(
            extras_of(self.config), self.ports.routes, self.ports.vmacs, static_of(self.config)
        )
        for inst in self.config.vrrp_instance:
            io = await instance_io(inst, self.config, self.ports.primary_address)
            io = self._extras.adjust(io)  # use_vmac: speak on the VMAC, VIPs on it
            self._io[inst.name] = io
            core = Instance(instance_params(inst, self.config, io.src))
            if faults_for_no_peer(inst):  # held in FAULT for good, as keepalived
                log.info("(%s) %s", inst.name, NO_PEER_FAULT)
                core.hold_fault("config", "no unicast peer", self.ports.clock.now())
            for hold in self.holds.get(inst.name, ()):
                core.hold_backup(hold, self.ports.clock.now())  # INIT: recorded only
            self.stats.setdefault(inst.name, InstanceStats())
            instances[inst.name] = core
            self._cores[inst.name] = core
            entries = [
                t
                for t in tracks(inst, self.config, in_sync_group=inst.name in in_group)
                if not (t.kind is Kind.SCRIPT and t.name in self._disabled)
            ]
            self._trackings[inst.name] = InstanceTracking(inst.priority, entries)
            self._watched_links |= {t.name for t in entries if t.kind is Kind.INTERFACE}
        for group in self.config.vrrp_sync_group:
            members = [instances[m.name] for m in group.group if m.name in instances]
            unit = SyncGroup(group.name, members)
            self._units[group.name] = unit
            for member in members:
                self._unit_of[member.name] = unit
        for name, core in instances.items():
            if name not in self._unit_of:
                solo = Solo(core)
                self._units[name] = solo
                self._unit_of[name] = solo
        self._performer = ActionPerformer(
            config=self.config,
            ports=self.ports,
            io=self._io,
            transport_of=self._transport_of,
            priority_of=lambda name: self._cores[name].effective_priority,
            log_detail=self.log_detail,
            stats=self.stats,
            extras=self._extras,
        )

    def _transport_of(self, io: InstanceIO) -> VrrpTransport:
        return self._sockets[self._socket_key(io)]

    @staticmethod
    def _socket_key(io: InstanceIO) -> SocketKey:
        return (io.ifname, io.family, io.src, io.unicast)

    def _open_sockets(self) -> None:
        for name, io in self._io.items():
            key = (io.ifname, io.family, io.src, io.unicast)
            if key not in self._sockets:
                group = None if io.unicast else io.destinations[0]
                self._sockets[key] = self.ports.open_transport(io.ifname, io.src, group)
            self._by_socket[(key, io.config.virtual_router_id or 0)] = name

    async def _open_sockets_patiently(self, attempts: int = OPEN_ATTEMPTS) -> None:
        """A source address may not be usable yet (IPv6 duplicate address detection takes a
        second or two after the link comes up): retry once a second, then give up loudly."""
        for attempt in range(1, attempts + 1):
            try:
                self._open_sockets()
                return
            except KernelError as exc:
                if attempt == attempts:
                    raise
                log.warning("%s; retrying in 1 s (%d/%d)", exc, attempt, attempts - 1)
                await asyncio.sleep(1.0)

    # -- running ----------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Clean stale VIPs, start every unit, run until ``stop``, then stop gracefully."""
        if not self._units:
            await self.build()
        assert self._performer is not None
        if self._extras is not None:
            await self._extras.start(keep=self.resume)  # VMACs first: sockets open on them
        await self._performer.remove_stale_vips(keep=self.resume)
        if self.ports.firewall is not None and self._drops_vip_traffic():
            try:
                await self.ports.firewall.prepare()  # no_accept: a takeover only adds elements
            except KernelError as exc:
                log.error("VIP firewall: %s", exc)  # tried again at the first takeover
        await self._open_sockets_patiently()
        await self._initial_tracking()
        async with self._lock:
            now = self.ports.clock.now()
            early = self._take_early()
            starts = {
                name: self._start_time(unit, early, now) for name, unit in self._units.items()
            }
            for name, unit in self._units.items():
                await self._perform(self._start_unit(unit, starts[name]))
            await self._replay(early, starts, now)
        if self.ports.release_early is not None:
            self.ports.release_early()
        self.started.set()
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._timers(stop), name="vrrp-timers")
                for key, sock in self._sockets.items():
                    tg.create_task(self._receiver(key, sock, stop), name=f"vrrp-rx-{key[0]}")
                tg.create_task(self._watch_links(stop), name="vrrp-links")
                self._start_trackers(tg, stop)
                tg.create_task(self._stop_first(stop), name="vrrp-stop")
        except* _Stop:
            pass
        finally:
            await self._shutdown()

    def _take_early(self) -> dict[SocketKey, EarlyReceived]:
        early = {}
        for key, sock in self._sockets.items():
            heard = sock.take_early()
            if heard is not None:
                early[key] = heard
        return early

    def _start_time(self, unit: Unit, early: dict[SocketKey, EarlyReceived], now: float) -> float:
        heard = [early.get(self._socket_key(self._io[m.name])) for m in unit.members]
        resumed = any(m.name in self.resume for m in unit.members)
        if not resumed and early_start.overflowed(heard):
            log.warning("(%s) VRRP receive queue overflowed before start: waiting a whole "
                        "Master_Down_Interval from now", unit.name)  # fmt: skip
        return early_start.start_time(heard, resumed=resumed, now=now)

    async def _replay(
        self, early: dict[SocketKey, EarlyReceived], starts: dict[str, float], now: float
    ) -> None:
        """Adverts heard before the start, in arrival order, each at its arrival time. Timers
        do not run in between: what counts is who is master now, not who was for a moment
        while the daemon was importing."""
        heard = early_start.in_arrival_order(early, now)
        last: dict[str, float] = {}
        for arrived, key, rx in heard:
            try:
                name, advert = self._decode(key, rx)
            except VrrpPacketError as exc:
                self._count(exc.reason, f"{exc} from {rx.src}")
                continue
            if name is None or advert is None:
                continue
            unit = self._unit_of[name]
            start = starts[unit.name]
            at = early_start.replay_instant(
                arrived, unit_start=start, previous=last.get(unit.name, start), now=now
            )
            last[unit.name] = at
            await self._perform(unit.handle_advert(name, advert, at))
        if early:
            since = min(e.since for e in early.values())
            log.info("VRRP: listening since %.2f s before start, %d advert(s) heard meanwhile",
                     now - since, len(heard))  # fmt: skip
        self._last_now = max(self._last_now, now)

    def _drops_vip_traffic(self) -> bool:
        """keepalived: "use_vmac or no_accept/strict specified, but no firewall configured -
        using nftables"; the ports of a reload are the first node's, so the firewall adapter
        is always there and idle (no table) unless this config needs it."""
        return any(drops_vip_traffic(i, self.config) for i in self.config.vrrp_instance)

    def _start_unit(self, unit: Unit, now: float) -> list[Tagged]:
        """Start, or resume what a predecessor ran (keepalived ``restore_vrrp_state``): a
        resumed MASTER keeps its VIPs (added again, idempotently, in case the list grew); a
        sync group resumes with its members. One that could not resume (faulty by now) and
        was MASTER drops the VIPs its predecessor left it."""
        previous = {m.name: self.resume[m.name] for m in unit.members if m.name in self.resume}
        if not previous:
            return unit.start(now)
        if isinstance(unit, Solo):
            resumed = unit.instance.resume(previous[unit.name], now)
            actions = [Tagged(source=unit.name, action=a) for a in resumed]
        else:
            actions = unit.resume(previous, now)
        for m in unit.members:
            if m.state is State.MASTER and m.name in previous:
                actions.append(Tagged(source=m.name, action=AddVips()))
            elif previous.get(m.name) is State.MASTER:
                actions.append(Tagged(source=m.name, action=RemoveVips()))
        return actions

    async def _initial_tracking(self) -> None:
        """Link states as they are now, applied before any instance starts (keepalived starts
        an instance whose tracked interface is down in FAULT; a weight-0 script without a
        result yet holds it there too)."""
        for ifname in sorted(self._watched_links):
            up = await self.ports.links.is_up(ifname)
            for tracking in self._trackings.values():
                tracking.observe(Kind.INTERFACE, ifname, up)
        now = self.ports.clock.now()
        for name, tracking in self._trackings.items():
            apply_verdict(self._cores[name], tracking.verdict(), now)  # INIT: no actions

    def _start_trackers(self, tg: asyncio.TaskGroup, stop: asyncio.Event) -> None:
        g = self.config.global_defs
        for script in used_scripts(self.config):
            if script.name in self._disabled:
                continue
            tracker = ScriptTracker(
                script, self.observe, secure=g.enable_script_security, default_user=g.script_user
            )
            tg.create_task(tracker.run(stop), name=f"vrrp-script-{script.name}")
        files = used_files(self.config)
        if files:
            tg.create_task(FileTrackers(files, self.observe).run(stop), name="vrrp-track-files")

    async def _timers(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            timers = [t for t in (u.get_timer() for u in self._units.values()) if t is not None]
            self._wake.clear()
            await self._sleep_until(min(timers) if timers else None)
            async with self._lock:
                now = self._last_now = self.ports.clock.now()
                for unit in self._units.values():
                    timer = unit.get_timer()
                    if timer is not None and timer <= now:
                        await self._perform(unit.handle_timer(now))

    async def _sleep_until(self, deadline: float | None) -> None:
        """Until ``deadline`` (our clock) or a wake-up, on time. epoll sleeps whole
        milliseconds rounded up, and the kernel lets a poll timeout run 0.1% late (3.6 ms on a
        VRRPv2 master-down interval; keepalived's timerfd has no such slack): wait in asyncio
        until that much before, again while more than 1 ms is left, then sleep the rest
        precisely (blocking, under a millisecond)."""
        for _ in range(3):  # the second wait is short, so its slack is tiny
            left = 1.0 if deadline is None else deadline - self.ports.clock.now()
            if deadline is not None and left <= EPOLL_GRAIN_S:
                if left > 0:
                    time.sleep(left)  # noqa: ASYNC251 (sub-millisecond, on purpose)
                return
            early = 0.0 if deadline is None else EPOLL_GRAIN_S + left * POLL_SLACK
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(left - early):
                    await self._wake.wait()
            if self._wake.is_set() or deadline is None:
                return

    async def _receiver(self, key: SocketKey, sock: VrrpTransport, stop: asyncio.Event) -> None:
        while not stop.is_set():
            received = await sock.receive()
            await self._on_datagram(key, received)

    async def _on_datagram(self, key: SocketKey, rx: Received) -> None:
        try:
            name, advert_in = self._decode(key, rx)
        except VrrpPacketError as exc:
            self._count(exc.reason, f"{exc} from {rx.src}")
            return
        if name is None or advert_in is None:
            return
        async with self._lock:
            unit = self._unit_of[name]
            await self._perform(unit.handle_advert(name, advert_in, self._arrival(rx)))
        self._wake.set()

    def _arrival(self, rx: Received) -> float:
        """When the advert came in, on our clock: a skew or master-down timer runs from the
        packet's arrival (the kernel's stamp), not from when a loaded machine let us read it;
        never before an instant the cores have already been given."""
        now = self.ports.clock.now()
        if rx.arrived is not None:
            now -= min(max(0.0, time.monotonic() - rx.arrived), MAX_BACKDATE_S)
        self._last_now = max(self._last_now, now)
        return self._last_now

    def _decode(self, key: SocketKey, rx: Received) -> tuple[str | None, AdvertReceived | None]:
        ttl: int | None
        if rx.has_ip_header:
            datagram = split_ipv4(rx.data)
            payload, src, dst, ttl = datagram.payload, datagram.src, datagram.dst, datagram.ttl
        else:
            if rx.dst is None:
                self._count("destination", f"no destination address from {rx.src}")
                return None, None
            payload, src, dst, ttl = rx.data, rx.src, rx.dst, rx.ttl
        as_v2 = self.config.global_defs.v3_checksum_as_v2
        advert = parse(payload, src=src, dst=dst, v3_checksum_as_v2=as_v2)
        name = self._by_socket.get((key, advert.vrid))
        if name is None:  # another router's VRID (keepalived logs it with log_unknown_vrids)
            self._count("vrid", f"VRID {advert.vrid} from {src} is not configured here")
            return None, None
        io = self._io[name]
        if src == io.src:
            return None, None
        stats = self.stats.setdefault(name, InstanceStats())
        stats.adverts_received += 1
        try:
            validate(advert, io.expected, dst=dst, ttl=ttl)
        except VrrpPacketError as exc:
            stats.errors[exc.reason] += 1
            raise
        refused = refusal(io.config, self.config, src, ttl)  # check_unicast_src
        if refused is not None:
            stats.errors[refused[0]] += 1
            self._count(refused[0], f"({name}) {refused[1]}")
            return None, None
        if advert.priority == 0:
            stats.priority_zero_received += 1
        return name, AdvertReceived(
            source=src,
            vrid=advert.vrid,
            version=advert.version,
            priority=advert.priority,
            advert_int_cs=advert.advert_int_cs,
        )

    def _count(self, reason: str, message: str) -> None:
        self.errors[reason] += 1
        if self.errors[reason] <= 10 or self.errors[reason] % 1000 == 0:
            log.warning("bad VRRP packet (%s, #%d): %s", reason, self.errors[reason], message)

    async def _watch_links(self, stop: asyncio.Event) -> None:
        if not self._watched_links:
            await stop.wait()
            return
        for ifname in sorted(self._watched_links):
            await self.observe(Kind.INTERFACE, ifname, await self.ports.links.is_up(ifname))
        async for state in self.ports.links.watch():
            if state.ifname in self._watched_links:
                await self.observe(Kind.INTERFACE, state.ifname, state.up)

    async def observe(self, kind: Kind, name: str, value: bool | int | None) -> None:
        """A tracker observation (script result, link state, file value) for every instance."""
        async with self._lock:
            now = self.ports.clock.now()
            for inst_name, tracking in self._trackings.items():
                verdict = tracking.observe(kind, name, value)
                if verdict is not None:
                    unit = self._unit_of[inst_name]
                    await self._perform(unit.apply_verdict(inst_name, verdict, now))
        self._wake.set()

    async def _perform(self, actions: list[Tagged]) -> None:
        assert self._performer is not None
        await self._performer.perform(actions)

    async def _stop_first(self, stop: asyncio.Event) -> None:
        """On stop, the priority 0 adverts go out before anything else winds down (the
        backups take over after their skew time, counted from this instant); then every
        other task of the node is cancelled."""
        await stop.wait()
        await self._stop_units()
        raise _Stop

    async def _stop_units(self) -> None:
        async with self._lock:
            if self._stopped:
                return
            self._stopped = True
            now = self.ports.clock.now()
            for unit in self._units.values():
                if not any(m.name in self.handover for m in unit.members):
                    await self._perform(unit.shutdown(now))
                    continue
                # A successor carries these on: no priority 0, VIPs stay. A member leaving
                # with the reload stops alone; its group carries on without it.
                for m in unit.members:
                    if m.name not in self.handover:
                        stopped = m.shutdown(now)
                        await self._perform([Tagged(source=m.name, action=a) for a in stopped])

    async def _shutdown(self) -> None:
        await self._stop_units()  # when a task failed instead of a stop
        for sock in self._sockets.values():
            sock.close()
        if self.ports.firewall is not None and not self.handover:
            try:
                await self.ports.firewall.close()  # a reload's successor keeps using it
            except KernelError as exc:
                log.error("VIP firewall: %s", exc)
        if self._extras is not None:
            await self._extras.stop(self.handover, keep_static=self.keep_static)

    async def release_gone(self, new: KeepalivedConfig, kept: Collection[str]) -> None:
        """Reload: virtual routes, rules and VIPs that left an instance kept in its state go
        now, from the interface they are on (a VMAC's included); the successor adds the rest
        again, idempotently."""
        successor = NodeExtras(extras_of(new), None, None, static_of(new))
        now = {i.name: {(v.address, successor.vip_interface(i, v)) for v in i.all_vips}
               for i in new.vrrp_instance}  # fmt: skip
        for name in kept:
            io = self._io.get(name)
            for vip in io.all_vips if io is not None and name in now else ():
                if (vip.address, vip.ifname) not in now[name]:  # gone, or moved (use_vmac)
                    try:
                        await self.ports.addresses.remove(vip)
                    except KernelError as exc:
                        log.error("(%s) %s", name, exc)
        if self._extras is not None:
            await self._extras.release_gone(successor, kept)

    # -- operator commands (the API's release-master / reclaim-master) ----------------------

    async def release_master(
        self, name: str, holder: str, reason: str, hold_s: float | None = None
    ) -> HoldOutcome:
        """``name`` gives up mastership (priority 0, VIPs removed) and is held in BACKUP until
        ``reclaim_master`` or, with ``hold_s``, that many seconds (a sync group: all of it)."""
        async with self._lock:
            core = self._cores.get(name)
            if core is None:
                return _unknown(name, self._cores)
            if core.state is not State.MASTER:
                held = "; it is held already" if core.snapshot().holds else ""
                text = f"({name}) is {core.state.value}, not MASTER: no mastership to release{held}"
                return HoldOutcome(ok=False, message=text)
            now = self.ports.clock.now()
            until = now + hold_s if hold_s is not None else None
            hold = Hold(holder=holder, reason=reason, since=now, until=until)
            unit = self._unit_of[name]
            await self._perform(unit.hold_backup(name, hold, now))
        self._wake.set()
        group = f" with sync group {unit.name}" if isinstance(unit, SyncGroup) else ""
        span = f"for {hold_s:g} s" if hold_s is not None else "until reclaim-master"
        text = f"({name}) released mastership{group} (priority 0 sent); held BACKUP {span}"
        return HoldOutcome(ok=True, message=text)

    async def reclaim_master(self, name: str, holder: str) -> HoldOutcome:
        """Lift ``holder``'s hold on ``name``: it is back in the election (with preempt, a
        higher priority takes mastership back within a Master_Down_Interval)."""
        async with self._lock:
            core = self._cores.get(name)
            if core is None:
                return _unknown(name, self._cores)
            if not any(h.holder == holder for h in core.snapshot().holds):
                text = f"({name}) is not held by {holder}: nothing to reclaim"
                return HoldOutcome(ok=False, message=text)
            now = self.ports.clock.now()
            await self._perform(self._unit_of[name].release_backup(name, holder, now))
        self._wake.set()
        text = f"({name}) hold lifted: back in the election (preempt takes mastership back)"
        return HoldOutcome(ok=True, message=text)

    def snapshot(self) -> list[InstanceSnapshot]:
        return [m.snapshot() for u in self._units.values() for m in u.members]


def _unknown(name: str, known: dict[str, Instance]) -> HoldOutcome:
    names = ", ".join(sorted(known)) or "none"
    return HoldOutcome(ok=False, message=f"no vrrp_instance {name!r} (known: {names})",
                       not_found=True)  # fmt: skip


class _Stop(Exception):
    """Raised inside the task group to end every task when ``stop`` is set."""
