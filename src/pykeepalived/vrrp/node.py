"""The VRRP driver: every vrrp_instance of a config, on real sockets, addresses and links.

Rules: asyncio glue (L3) around the pure cores. It builds one unit per sync group or standalone
instance, opens one VRRP socket per (interface, family, source, multicast or unicast), feeds
received adverts and timer expiries to the cores and performs the actions they return, in
order, under one lock. It depends on the kernel *ports* only (``kernel.ports``); the
composition root passes real adapters. This module owns building, starting (a reload's
resume included), the timers and stopping; its siblings work over its tables: ``node_receive``
the receive path (bad packets are dropped, counted by reason and logged at a limited rate;
they never change state), ``node_tracking`` links, scripts and files, ``node_commands`` the
operator's release/reclaim, ``node_actions`` performing actions, ``node_extras`` routes,
rules and VMACs, ``node_watchers`` what keeps it right when the host changes under it
(``precise_sleep``: the timers' sleep).
"""

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field

from pykeepalived.clock import Clock
from pykeepalived.config.model import KeepalivedConfig
from pykeepalived.errors import KernelError
from pykeepalived.kernel.ports import (
    AddressPort,
    AddressWatchPort,
    AnnouncePort,
    IPAddress,
    LinkPort,
    Received,
    RouteWatchPort,
    VipFirewallPort,
    VrrpTransport,
)
from pykeepalived.notify import ScriptRunner
from pykeepalived.vrrp.events import AddVips, InstanceSnapshot, RemoveVips
from pykeepalived.vrrp.from_config import drops_vip_traffic, instance_params
from pykeepalived.vrrp.group import SyncGroup, Tagged
from pykeepalived.vrrp.hold import Hold, HoldOutcome
from pykeepalived.vrrp.instance import Instance
from pykeepalived.vrrp.node_actions import ActionPerformer, InstanceIO, InstanceStats, instance_io
from pykeepalived.vrrp.node_commands import NodeCommands
from pykeepalived.vrrp.node_extras import (
    NodeExtras,
    RoutePort,
    VmacPort,
    extras_of,
    static_of,
)
from pykeepalived.vrrp.node_receive import NodeReceiver, SocketKey, socket_key
from pykeepalived.vrrp.node_tracking import NodeTracking
from pykeepalived.vrrp.node_watchers import NodeTables, watchers
from pykeepalived.vrrp.precise_sleep import sleep_until
from pykeepalived.vrrp.states import State
from pykeepalived.vrrp.tracking import Kind
from pykeepalived.vrrp.unicast import NO_PEER_FAULT, faults_for_no_peer
from pykeepalived.vrrp.units import Solo, Unit

log = logging.getLogger("pykeepalived.vrrp")
OPEN_ATTEMPTS = 10

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
    address_watch: AddressWatchPort | None = None  # VIPs removed by others are put back
    route_watch: RouteWatchPort | None = None  # and routes and rules of ours
    release_early: Callable[[], None] | None = None
    """Closes the receive sockets opened at process start that no transport adopted."""
    on_state: Callable[[KeepalivedConfig, str, str, str], None] | None = None
    """Told each notified state change after the scripts and the FIFO (config, ``INSTANCE``
    or ``GROUP``, name, state name): the daemon's e-mail alerts. Must not block or raise."""


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
    _cores: dict[str, Instance] = field(default_factory=dict)
    _sockets: dict[SocketKey, VrrpTransport] = field(default_factory=dict)
    _by_socket: dict[tuple[SocketKey, int], str] = field(default_factory=dict)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _performer: ActionPerformer | None = None
    _extras: NodeExtras | None = None
    _stopped: bool = False
    # Set once every unit has started (sockets open, timers armed): the daemon starts its
    # LVS half's imports only then, so they do not slow this start (docs/benchmarks.md).
    started: asyncio.Event = field(default_factory=asyncio.Event)
    _rx: NodeReceiver = field(init=False)  # the receive path (``node_receive``)
    _commands: NodeCommands = field(init=False)  # the operator's (``node_commands``)
    _tracking: NodeTracking = field(init=False)  # links, scripts, files (``node_tracking``)

    def __post_init__(self) -> None:
        self._rx = NodeReceiver(
            config=self.config,
            clock=self.ports.clock,
            io=self._io,
            by_socket=self._by_socket,
            sockets=self._sockets,
            unit_of=self._unit_of,
            resume=self.resume,
            stats=self.stats,
            errors=self.errors,
            lock=self._lock,
            wake=self._wake,
            perform=self._perform,
        )
        self._commands = NodeCommands(
            clock=self.ports.clock,
            cores=self._cores,
            unit_of=self._unit_of,
            lock=self._lock,
            wake=self._wake,
            perform=self._perform,
        )
        self._tracking = NodeTracking(
            config=self.config,
            links=self.ports.links,
            clock=self.ports.clock,
            cores=self._cores,
            unit_of=self._unit_of,
            lock=self._lock,
            wake=self._wake,
            perform=self._perform,
        )

    # -- building ---------------------------------------------------------------------------

    async def build(self) -> None:
        in_group = {m.name for g in self.config.vrrp_sync_group for m in g.group}
        self._tracking.drop_disabled()
        instances: dict[str, Instance] = {}
        self._extras = NodeExtras(extras_of(self.config), self.ports.routes, self.ports.vmacs,
                                  static_of(self.config), self.ports.addresses)  # fmt: skip
        for inst in self.config.vrrp_instance:
            try:
                io = await instance_io(inst, self.config, self.ports.primary_address)
            except KernelError as exc:  # keepalived: "Non-existent interface specified"
                at = inst.where.of("interface")
                line = f"{at.file}: line {at.line}, " if at is not None else ""
                raise KernelError(f"({line}vrrp_instance {inst.name}) {exc}") from exc
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
            self._tracking.add(inst, in_sync_group=inst.name in in_group)
        self._make_units(instances)
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

    def _make_units(self, instances: dict[str, Instance]) -> None:
        """One unit per sync group (its configured members), one per instance in none."""
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

    def _transport_of(self, io: InstanceIO) -> VrrpTransport:
        return self._sockets[socket_key(io)]

    def _open_sockets(self) -> None:
        for name, io in self._io.items():
            key = socket_key(io)
            if key not in self._sockets:
                self._sockets[key] = self.ports.open_transport(io.ifname, io.src, key[4])
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
        await self._tracking.initial()
        async with self._lock:
            now = self.ports.clock.now()
            early = self._rx.take_early()
            starts = {
                name: self._rx.start_time(unit, early, now) for name, unit in self._units.items()
            }
            for name, unit in self._units.items():
                await self._perform(self._start_unit(unit, starts[name]))
            await self._rx.replay(early, starts, now)
        if self.ports.release_early is not None:
            self.ports.release_early()
        self.started.set()
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._timers(stop), name="vrrp-timers")
                for key, sock in self._sockets.items():
                    tg.create_task(self._rx.listen(key, sock, stop), name=f"vrrp-rx-{key[0]}")
                tg.create_task(self._tracking.watch_links(stop), name="vrrp-links")
                for name, task in watchers(self.ports, self._tables(), stop).items():
                    tg.create_task(task, name=name)
                self._tracking.start_trackers(tg, stop)
                tg.create_task(self._stop_first(stop), name="vrrp-stop")
        except* _Stop:
            pass
        finally:
            await self._shutdown()

    def _tables(self) -> NodeTables:
        return NodeTables(config=self.config, io=self._io, cores=self._cores,
                          unit_of=self._unit_of, stats=self.stats, sockets=self._sockets,
                          extras=self._extras, lock=self._lock, wake=self._wake,
                          perform=self._perform)  # fmt: skip

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

    async def _timers(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            timers = [t for t in (u.get_timer() for u in self._units.values()) if t is not None]
            self._wake.clear()
            await self._sleep_until(min(timers) if timers else None)
            async with self._lock:
                now = self._rx.last_now = self.ports.clock.now()
                for unit in self._units.values():
                    timer = unit.get_timer()
                    if timer is not None and timer <= now:
                        await self._perform(unit.handle_timer(now))

    async def _sleep_until(self, deadline: float | None) -> None:
        await sleep_until(self.ports.clock, self._wake, deadline)

    async def _on_datagram(self, key: SocketKey, rx: Received) -> None:
        """One datagram read off socket ``key`` (what each receiver task does per read)."""
        await self._rx.on_datagram(key, rx)

    async def observe(self, kind: Kind, name: str, value: bool | int | None) -> None:
        """A tracker observation (script result, link state, file value) for every instance."""
        await self._tracking.observe(kind, name, value)

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

    # -- operator commands (the API's release-master / reclaim-master: ``node_commands``) --

    async def release_master(
        self, name: str, holder: str, reason: str, hold_s: float | None = None
    ) -> HoldOutcome:
        """``name`` gives up mastership and is held in BACKUP (``node_commands``)."""
        return await self._commands.release_master(name, holder, reason, hold_s)

    async def reclaim_master(self, name: str, holder: str) -> HoldOutcome:
        """Lift ``holder``'s hold on ``name`` (``node_commands``)."""
        return await self._commands.reclaim_master(name, holder)

    def snapshot(self) -> list[InstanceSnapshot]:
        return [m.snapshot() for u in self._units.values() for m in u.members]


class _Stop(Exception):
    """Raised inside the task group to end every task when ``stop`` is set."""
