"""Performing the cores' actions: adverts on the wire, VIPs through netlink, gratuitous ARP/NA,
notify scripts and keepalived's log lines.

Rules: asyncio glue (L3), used by ``node`` only. One method per action type; a kernel error on
one VIP is logged and the others still go through (no half-applied silence).
"""

import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from ipaddress import ip_address
from typing import TYPE_CHECKING

from pykeepalived.config.model import KeepalivedConfig
from pykeepalived.config.model_common import Script
from pykeepalived.config.model_vrrp import VrrpInstance, VrrpSyncGroup
from pykeepalived.config.model_vrrp_items import VirtualIp
from pykeepalived.errors import KernelError
from pykeepalived.kernel.ports import IPAddress, VipSpec, VrrpTransport
from pykeepalived.notify import (
    STOP_TIMEOUT_S,
    NotifyFifo,
    ScriptSpec,
    fifo_line,
    instance_notify_args,
)
from pykeepalived.vrrp.events import (
    AddVips,
    Log,
    MasterRxLowerPriority,
    PriorityChanged,
    RemoveVips,
    SendAdvert,
    SendExtraGratuitous,
    SendGratuitous,
    StateChanged,
)
from pykeepalived.vrrp.from_config import (
    drops_vip_traffic,
    expected,
    garp_extra_if,
    notifies_priority,
    version_of,
)
from pykeepalived.vrrp.garp_pacing import GarpPacer, PacedAnnouncer, extra_if_targets, spacings
from pykeepalived.vrrp.group import Tagged
from pykeepalived.vrrp.packet import Advert, AuthType, Family, encode
from pykeepalived.vrrp.receive import Expected
from pykeepalived.vrrp.states import State
from pykeepalived.vrrp.unicast import send_ttl

if TYPE_CHECKING:
    from pykeepalived.vrrp.node import VrrpPorts
    from pykeepalived.vrrp.node_extras import NodeExtras

log = logging.getLogger("pykeepalived.vrrp")
UNSOLICITED_NA = "Unsolicited Neighbour Adverts"  # keepalived's words (vrrp_send_update)
NOTIFY_BY_STATE = {
    State.MASTER: "notify_master",
    State.BACKUP: "notify_backup",
    State.FAULT: "notify_fault",
    State.STOP: "notify_stop",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class InstanceIO:
    """What the driver knows of one instance's I/O: where it speaks and what it owns."""

    config: VrrpInstance
    ifname: str
    family: int
    src: IPAddress
    destinations: tuple[IPAddress, ...]
    unicast: bool
    version: int
    expected: Expected
    vips: tuple[VipSpec, ...]
    excluded: tuple[VipSpec, ...]

    @property
    def all_vips(self) -> tuple[VipSpec, ...]:
        return self.vips + self.excluded


@dataclass(slots=True)
class InstanceStats:
    """Counters the driver keeps per instance (keepalived's ``vrrp_stats``): adverts sent once
    per advert whatever the number of unicast peers, received once the VRID names the instance
    (before the checks that may refuse it), refusals by ``packet.Reason``."""

    adverts_sent: int = 0
    adverts_received: int = 0
    priority_zero_sent: int = 0
    priority_zero_received: int = 0
    vips_restored: int = 0  # put back after something else removed them (node_vip_guard)
    errors: Counter[str] = field(default_factory=Counter)
    transitions: Counter[tuple[str, str]] = field(default_factory=Counter)  # (old, new) states


async def instance_io(
    inst: VrrpInstance,
    config: KeepalivedConfig,
    primary_address: Callable[[str, int], Awaitable[IPAddress]],
) -> InstanceIO:
    """Where ``inst`` speaks: interface, family, source (the interface's primary address unless
    configured), multicast group (``mcast_dst_ip``, else global_defs') or unicast peers, and
    what it owns."""
    family = inst.family or 4
    ifname = inst.interface or ""
    src = inst.unicast_src_ip or inst.mcast_src_ip
    if src is None:
        src = await primary_address(ifname, family)
    g = config.global_defs
    if inst.mcast_dst_ip is not None:  # the instance's own group (keepalived's mcast_daddr)
        group = inst.mcast_dst_ip
    elif family == 4:
        group = g.vrrp_mcast_group4 or ip_address("224.0.0.18")
    else:
        group = g.vrrp_mcast_group6 or ip_address("ff02::12")
    return InstanceIO(
        config=inst,
        ifname=ifname,
        family=family,
        src=src,
        destinations=tuple(p.address for p in inst.unicast_peer) or (group,),
        unicast=bool(inst.unicast_peer),
        version=version_of(inst, config),
        expected=expected(inst, config),
        vips=tuple(vip_spec(v, ifname) for v in inst.virtual_ipaddress),
        excluded=tuple(vip_spec(v, ifname) for v in inst.virtual_ipaddress_excluded),
    )


def vip_spec(vip: VirtualIp, default_ifname: str) -> VipSpec:
    """A ``virtual_ipaddress`` (or ``static_ipaddress``) line as netlink needs it."""
    return VipSpec(
        address=vip.address,
        ifname=vip.dev or default_ifname,
        label=vip.label,
        scope=vip.scope,
        broadcast=vip.brd if not isinstance(vip.brd, str) else None,
        peer=vip.peer,
        noprefixroute=vip.noprefixroute,
        # keepalived adds IPv6 VIPs without DAD (usable at once after a takeover, never
        # 'dadfailed' after a split brain); '-nodad' in the config asks for DAD instead.
        nodad=vip.address.version == 6 and not vip.nodad,
        home=vip.home,
        mngtmpaddr=vip.mngtmpaddr,
        autojoin=vip.autojoin,
        preferred_lft_s=preferred_lft_s(vip),
    )


def preferred_lft_s(vip: VirtualIp) -> int | None:
    """The preferred lifetime keepalived 2.2.7 gives the address (vrrp_ipaddress.c): IPv6
    only (IPv4 addresses stay preferred); unless written, a /128 is deprecated at once (0: the
    kernel then never picks the VIP as a source, e.g. for health checks) and a shorter prefix
    stays preferred. None: forever (no IFA_CACHEINFO, the kernel's default)."""
    if vip.address.version != 6:
        return None
    if vip.preferred_lft is None:
        return 0 if vip.address.network.prefixlen == 128 else None
    seconds = 0xFFFFFFFF if vip.preferred_lft == "forever" else int(vip.preferred_lft)
    return None if seconds == 0xFFFFFFFF else seconds  # the kernel's INFINITY_LIFE_TIME


@dataclass
class ActionPerformer:
    config: KeepalivedConfig
    ports: "VrrpPorts"
    io: dict[str, InstanceIO]
    transport_of: Callable[[InstanceIO], VrrpTransport]
    priority_of: Callable[[str], int] | None = None
    log_detail: bool = False
    stats: dict[str, InstanceStats] = field(default_factory=dict)
    extras: "NodeExtras | None" = None  # virtual routes and rules, after the VIPs
    _paced: PacedAnnouncer | None = None  # GARP/NA pacing, made at the first announcement
    _adverts: dict[tuple[str, int], tuple[InstanceIO, list[tuple[IPAddress, bytes]]]] = field(
        default_factory=dict
    )  # encoded adverts by (instance, priority)

    async def perform(self, actions: list[Tagged]) -> None:
        for tagged in actions:
            await self._one(tagged)

    async def _one(self, tagged: Tagged) -> None:
        action, io = tagged.action, self.io.get(tagged.source)
        if isinstance(action, Log):
            if self.log_detail or not action.detail:
                log.info("%s", action.message)
        elif isinstance(action, StateChanged):
            self._state_changed(tagged.source, action)
        elif isinstance(action, PriorityChanged):
            log.info("%s", action.message)
            if io is not None and notifies_priority(io.config, self.config):
                state = "MASTER_PRIORITY" if action.master else "BACKUP_PRIORITY"
                self._fifo(fifo_line("INSTANCE", tagged.source, state, action.new))
        elif io is None:
            return
        elif isinstance(action, SendAdvert):
            self._send_advert(io, action.priority)
        elif isinstance(action, AddVips):
            await self._add_vips(io)
        elif isinstance(action, RemoveVips):
            await self._remove_vips(io)
        elif isinstance(action, SendGratuitous):
            self._announce(io, action.repeat)
        elif isinstance(action, SendExtraGratuitous):
            self._announce(io, 1, self._extra_if_vips(io))
        elif isinstance(action, MasterRxLowerPriority):
            self._run(io.config.notify_master_rx_lower_pri, why="notify_master_rx_lower_pri")

    def _send_advert(self, io: InstanceIO, priority: int) -> None:
        inst = io.config
        ttl = send_ttl(inst) if io.unicast else 255  # unicast_ttl
        for dst, payload in self._encoded(io, priority):
            try:
                self.transport_of(io).send(payload, dst, ttl=ttl)
            except KernelError as exc:
                log.error("(%s) %s", inst.name, exc)
        stats = self.stats.setdefault(inst.name, InstanceStats())
        stats.adverts_sent += 1  # keepalived counts an attempt, sent or not
        if priority == 0:
            stats.priority_zero_sent += 1

    def _encoded(self, io: InstanceIO, priority: int) -> list[tuple[IPAddress, bytes]]:
        """Our advert to each destination: the same bytes every interval, so encoded once
        per priority (~0.15 ms saved per send, the takeover's first send included)."""
        cached = self._adverts.get((io.config.name, priority))
        if cached is not None and cached[0] is io:
            return cached[1]
        pass_auth = io.expected.auth_type is AuthType.PASS  # none in strict mode
        advert = Advert(
            version=io.version,
            vrid=io.config.virtual_router_id or 0,
            priority=priority,
            advert_int_cs=round(io.config.advert_int * 100),
            family=Family.IPV4 if io.family == 4 else Family.IPV6,
            addresses=tuple(v.address.ip for v in io.vips),
            auth_type=AuthType.PASS if pass_auth else AuthType.NONE,
            auth_data=io.expected.auth_data if pass_auth else b"",
        )
        as_v2 = io.expected.v3_checksum_as_v2
        out = [(dst, encode(advert, src=io.src, dst=dst, v3_checksum_as_v2=as_v2))
               for dst in io.destinations]  # fmt: skip
        self._adverts[(io.config.name, priority)] = (io, out)
        return out

    async def _add_vips(self, io: InstanceIO) -> None:
        await self._firewall(io, add=True)
        for vip in io.all_vips:
            try:
                await self.ports.addresses.add(vip)
            except KernelError as exc:
                log.error("(%s) %s", io.config.name, exc)
        if self.log_detail:
            log.info("(%s) setting VIPs.", io.config.name)  # keepalived's wording
        if self.extras is not None:
            await self.extras.apply(io.config.name, add=True, detail=self.log_detail)

    async def _remove_vips(self, io: InstanceIO) -> None:
        if self._paced is not None:
            self._paced.drop(io.config.name)  # no late GARP for VIPs we no longer hold
        if self.log_detail:
            log.info("(%s) removing VIPs.", io.config.name)
        if self.extras is not None:  # keepalived: rules, routes, then the VIPs
            await self.extras.apply(io.config.name, add=False, detail=self.log_detail)
        for vip in io.all_vips:
            try:
                await self.ports.addresses.remove(vip)
            except KernelError as exc:
                log.error("(%s) %s", io.config.name, exc)
        await self._firewall(io, add=False)

    async def _firewall(self, io: InstanceIO, *, add: bool) -> None:
        """no_accept / vrrp_strict: traffic to and from the VIPs is dropped while we hold them
        (keepalived sets the rule before adding the VIPs and clears it after removing them)."""
        firewall = self.ports.firewall
        if firewall is None or not drops_vip_traffic(io.config, self.config):
            return
        if self.log_detail:
            log.info("(%s) %s firewall drop rule", io.config.name, "setting" if add else "removing")
        try:
            await firewall.set_dropped(io.config.name, io.all_vips if add else ())
        except KernelError as exc:
            log.error("(%s) %s", io.config.name, exc)

    async def remove_stale_vips(self, keep: Collection[str] = ()) -> None:
        """VIPs of configured instances left on an interface (a crash) go before we start;
        ``keep`` names instances taken over from a predecessor (a reload): theirs stay."""
        for io in self.io.values():
            if io.config.name in keep:
                continue
            for vip in io.all_vips:
                try:
                    removed = await self.ports.addresses.remove(vip)
                except KernelError as exc:
                    log.warning("(%s) stale VIP check: %s", io.config.name, exc)
                    continue
                if removed:
                    log.info("(%s) removed stale VIP %s from %s", io.config.name, vip.address,
                             vip.ifname)  # fmt: skip

    def _extra_if_vips(self, io: InstanceIO) -> tuple[VipSpec, ...]:
        """garp_extra_if: the VIPs on the instance's other interfaces (``extra_if_targets``)."""
        extras = self.extras.extras if self.extras is not None else {}
        mine = extras.get(io.config.name)
        own = mine.vmac.ifname if mine is not None and mine.vmac is not None else io.ifname
        setting = garp_extra_if(io.config, self.config)
        return tuple(
            extra_if_targets(
                io.all_vips,
                own,
                every=setting is not None and setting.all,
                xmit_base=mine is not None and mine.xmit_base,
                vmacs=frozenset(e.vmac.ifname for e in extras.values() if e.vmac is not None),
            )
        )

    def _announce(
        self, io: InstanceIO, repeat: int, vips: tuple[VipSpec, ...] | None = None
    ) -> None:
        """keepalived vrrp_send_link_update: ``repeat`` rounds over the VIPs (or ``vips``),
        each paced per interface when vrrp_garp_interval / vrrp_gna_interval / garp_group say
        so."""
        name = io.config.name
        vips = io.all_vips if vips is None else vips
        for vip in vips:
            if self.log_detail and repeat:  # keepalived: with -D only, before the first round
                kind = "gratuitous ARPs" if vip.address.version == 4 else UNSOLICITED_NA
                log.info("(%s) Sending/queueing %s on %s for %s", name, kind, vip.ifname,
                         vip.address.ip)  # fmt: skip
        if self._paced is None:
            pacer = GarpPacer(*spacings(self.config))
            self._paced = PacedAnnouncer(self.ports.announcer, pacer, self.ports.clock.now)
        rank = list(self.io).index(name)
        for _ in range(repeat):
            for n, vip in enumerate(vips):
                self._paced.announce(name, vip.ifname, vip.address.ip, (rank, n))

    def _state_changed(self, source: str, change: StateChanged) -> None:
        log.info("%s", change.message)
        if change.resumed:
            return
        if source in self.io:  # an instance, not a sync group
            moves = self.stats.setdefault(source, InstanceStats()).transitions
            moves[(change.old.value, change.new.value)] += 1
        inst = self.io[source].config if source in self.io else None
        group = None if inst is not None else self._group(source)
        holder: VrrpInstance | VrrpSyncGroup | None = inst or group
        if holder is None:
            return
        kind = "INSTANCE" if inst is not None else "GROUP"
        script_name = NOTIFY_BY_STATE.get(change.new)
        # keepalived bounds only what runs for a STOP (one second); other notifies run freely
        bound = STOP_TIMEOUT_S if change.new is State.STOP else None
        if script_name is not None:
            self._run(getattr(holder, script_name, None), why=script_name, timeout_s=bound)
        priority = 0  # keepalived: the effective priority of an instance, 0 for a group
        if inst is not None:
            priority = self.priority_of(source) if self.priority_of else inst.priority
        self._run(
            holder.notify,
            *instance_notify_args(kind, source, change.new.name, priority),
            why="notify",
            timeout_s=bound,
        )
        self._fifo(fifo_line(kind, source, change.new.name, priority))
        if self.ports.on_state is not None:  # keepalived's SMTP alert comes last, too
            self.ports.on_state(self.config, kind, source, change.new.name)

    def _fifo(self, line: str) -> None:
        """To notify_fifo and to vrrp_notify_fifo, each that is set (keepalived's notify_fifo
        writes both); the script FIFOs are not written here."""
        g = self.config.global_defs
        for path in dict.fromkeys(f.path for f in (g.notify_fifo, g.vrrp_notify_fifo) if f):
            NotifyFifo(path).write(line)

    def _group(self, name: str) -> VrrpSyncGroup | None:
        for group in self.config.vrrp_sync_group:
            if group.name == name:
                return group
        return None

    def _run(
        self, script: Script | None, *args: str, why: str, timeout_s: float | None = None
    ) -> None:
        if script is None:
            return
        spec = ScriptSpec(
            command=script.command, username=script.username, groupname=script.groupname
        )
        self.ports.scripts.run(spec, *args, why=why, timeout_s=timeout_s)
