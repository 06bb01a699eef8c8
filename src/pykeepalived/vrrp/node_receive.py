"""The driver's receive path: adverts off the VRRP sockets to the cores, and the start-up replay.

Rules: asyncio glue (L3), used by ``node`` only. It owns turning a datagram into the advert of
one configured instance (decoding, the checks of ``receive`` and ``unicast``), the instant it is
given to the cores (the kernel's arrival stamp, never before an instant already given), the
counters and rate-limited log of refusals, and giving what the sockets queued before the start
to the cores in arrival order (``early_start`` decides when). It must not know how actions are
performed (``perform``), timers, tracking or operator commands. Bad packets are dropped,
counted by reason and logged at a limited rate; they never change state.
"""

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from pykeepalived.clock import Clock
from pykeepalived.config.model import KeepalivedConfig
from pykeepalived.kernel.ports import EarlyReceived, IPAddress, Received, VrrpTransport
from pykeepalived.vrrp import early_start
from pykeepalived.vrrp.events import AdvertReceived
from pykeepalived.vrrp.group import Tagged
from pykeepalived.vrrp.ipheader import split_ipv4
from pykeepalived.vrrp.node_actions import InstanceIO, InstanceStats
from pykeepalived.vrrp.packet import VrrpPacketError, parse
from pykeepalived.vrrp.receive import validate
from pykeepalived.vrrp.states import State
from pykeepalived.vrrp.unicast import refusal
from pykeepalived.vrrp.units import Unit

log = logging.getLogger("pykeepalived.vrrp")
MAX_BACKDATE_S = 1.0  # an advert older than this when read is taken as read now

SocketKey = tuple[str, int, IPAddress, bool, IPAddress | None]
"""interface, family, source, unicast, multicast group (None: unicast)"""


def socket_key(io: InstanceIO) -> SocketKey:
    """The socket ``io`` speaks and listens on: one per (interface, family, source, unicast,
    group); instances with their own ``mcast_dst_ip`` get a socket joined to that group."""
    group = None if io.unicast else io.destinations[0]
    return (io.ifname, io.family, io.src, io.unicast, group)


@dataclass
class NodeReceiver:
    """One node's receive path, over the node's own tables (shared, filled as it builds)."""

    config: KeepalivedConfig
    clock: Clock
    io: dict[str, InstanceIO]
    by_socket: dict[tuple[SocketKey, int], str]  # (socket, VRID) -> instance
    sockets: dict[SocketKey, VrrpTransport]
    unit_of: dict[str, Unit]
    resume: Mapping[str, State]  # instances resumed from a reload's predecessor
    stats: dict[str, InstanceStats]
    errors: Counter[str]
    lock: asyncio.Lock
    wake: asyncio.Event  # set after an advert was handled: the timers are due again
    perform: Callable[[list[Tagged]], Awaitable[None]]
    last_now: float = float("-inf")  # the latest instant given to the cores

    async def listen(self, key: SocketKey, sock: VrrpTransport, stop: asyncio.Event) -> None:
        while not stop.is_set():
            received = await sock.receive()
            await self.on_datagram(key, received)

    async def on_datagram(self, key: SocketKey, rx: Received) -> None:
        decoded = self._accepted(key, rx)
        if decoded is None:
            return
        name, advert_in = decoded
        async with self.lock:
            unit = self.unit_of[name]
            await self.perform(unit.handle_advert(name, advert_in, self._arrival(rx)))
        self.wake.set()

    def _accepted(self, key: SocketKey, rx: Received) -> tuple[str, AdvertReceived] | None:
        """The instance an advert is for and the advert, or None: refused (counted) or not
        ours."""
        try:
            name, advert_in = self._decode(key, rx)
        except VrrpPacketError as exc:
            self._count(exc.reason, f"{exc} from {rx.src}")
            return None
        if name is None or advert_in is None:
            return None
        return name, advert_in

    def _arrival(self, rx: Received) -> float:
        """When the advert came in, on our clock: a skew or master-down timer runs from the
        packet's arrival (the kernel's stamp), not from when a loaded machine let us read it;
        never before an instant the cores have already been given."""
        now = self.clock.now()
        if rx.arrived is not None:
            now -= min(max(0.0, time.monotonic() - rx.arrived), MAX_BACKDATE_S)
        self.last_now = max(self.last_now, now)
        return self.last_now

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
        group = key[4]
        if group is not None and dst.is_multicast and dst != group:
            return None, None  # another group's (keepalived's socket, bound to its group, never
            # sees it; ours hears every group some socket joined on the interface)
        as_v2 = self.config.global_defs.v3_checksum_as_v2
        advert = parse(payload, src=src, dst=dst, v3_checksum_as_v2=as_v2)
        name = self.by_socket.get((key, advert.vrid))
        if name is None:  # another router's VRID (keepalived logs it with log_unknown_vrids)
            self._count("vrid", f"VRID {advert.vrid} from {src} is not configured here")
            return None, None
        io = self.io[name]
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

    # -- start-up: what the sockets heard before the daemon was ready (``early_start``) ------

    def take_early(self) -> dict[SocketKey, EarlyReceived]:
        early = {}
        for key, sock in self.sockets.items():
            heard = sock.take_early()
            if heard is not None:
                early[key] = heard
        return early

    def start_time(self, unit: Unit, early: dict[SocketKey, EarlyReceived], now: float) -> float:
        heard = [early.get(socket_key(self.io[m.name])) for m in unit.members]
        resumed = any(m.name in self.resume for m in unit.members)
        if not resumed and early_start.overflowed(heard):
            log.warning("(%s) VRRP receive queue overflowed before start: waiting a whole "
                        "Master_Down_Interval from now", unit.name)  # fmt: skip
        return early_start.start_time(heard, resumed=resumed, now=now)

    async def replay(
        self, early: dict[SocketKey, EarlyReceived], starts: dict[str, float], now: float
    ) -> None:
        """Adverts heard before the start, in arrival order, each at its arrival time. Timers
        do not run in between: what counts is who is master now, not who was for a moment
        while the daemon was importing. The caller holds ``lock``."""
        heard = early_start.in_arrival_order(early, now)
        last: dict[str, float] = {}
        for arrived, key, rx in heard:
            decoded = self._accepted(key, rx)
            if decoded is None:
                continue
            name, advert = decoded
            unit = self.unit_of[name]
            start = starts[unit.name]
            at = early_start.replay_instant(
                arrived, unit_start=start, previous=last.get(unit.name, start), now=now
            )
            last[unit.name] = at
            await self.perform(unit.handle_advert(name, advert, at))
        if early:
            since = min(e.since for e in early.values())
            log.info("VRRP: listening since %.2f s before start, %d advert(s) heard meanwhile",
                     now - since, len(heard))  # fmt: skip
        self.last_now = max(self.last_now, now)
