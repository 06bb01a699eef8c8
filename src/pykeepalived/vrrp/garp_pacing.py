"""Gratuitous ARP / unsolicited NA pacing: ``vrrp_garp_interval``, ``vrrp_gna_interval`` and
``garp_group`` blocks, as keepalived 2.2.7 paces them (``vrrp_arp.c``, ``vrrp_ndisc.c``,
``vrrp_scheduler.c`` vrrp_arp_thread).

Rules: ``GarpPacer`` is pure (times passed in). Per interface and family there is a minimum
spacing between two announcements. One that may not go yet is *pending*: a flag per (instance,
address), so the repeats of a burst that find the interface busy collapse into one late
announcement (keepalived 2.2.7 on the wire, 2 VIPs, garp_master_repeat 5, vrrp_garp_interval
0.1: VIP1 at 0 ms, VIP1 at 100 ms, VIP2 at 200 ms; without an interval, 10 back to back).
Pending ones go in the order of the configuration (instance, then VIP: keepalived's timer
walks its lists), each as its interface allows; an instance leaving MASTER drops its pending
ones. ``PacedAnnouncer`` is the asyncio glue: it sends through the announce port at once or
from one timer task.

Intervals: a ``garp_group`` gives its interfaces their own (an unset one is 0: no pacing);
every other interface gets global_defs' ``vrrp_garp_interval`` / ``vrrp_gna_interval``.

``garp_extra_if`` (:func:`extra_if_targets`) picks which VIPs its periodic announcements
are for; they go through the same pacing.
"""

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from pykeepalived.config.model import KeepalivedConfig
from pykeepalived.errors import KernelError
from pykeepalived.kernel.ports import AnnouncePort, IPAddress, VipSpec

log = logging.getLogger("pykeepalived.vrrp")
Pending = tuple[str, str, IPAddress]  # instance, interface, address


@dataclass(frozen=True, slots=True)
class Spacing:
    garp_s: float = 0.0
    gna_s: float = 0.0

    def of(self, address: IPAddress) -> float:
        return self.garp_s if address.version == 4 else self.gna_s


def spacings(config: KeepalivedConfig) -> tuple[dict[str, Spacing], Spacing]:
    """(per-interface spacings from garp_group blocks, the default for other interfaces)."""
    g = config.global_defs
    default = Spacing(g.vrrp_garp_interval, g.vrrp_gna_interval)
    by_if: dict[str, Spacing] = {}
    for group in config.garp_group:
        names = ([group.interface] if group.interface else []) + list(group.interfaces)
        for name in names:
            by_if[name] = Spacing(group.garp_interval or 0.0, group.gna_interval or 0.0)
    return by_if, default


@dataclass
class GarpPacer:
    by_if: dict[str, Spacing] = field(default_factory=dict)
    default: Spacing = field(default_factory=Spacing)
    _next: dict[tuple[str, int], float] = field(default_factory=dict)  # (ifname, family)
    _pending: dict[Pending, tuple[int, int]] = field(default_factory=dict)  # -> rank

    def _spacing(self, ifname: str, address: IPAddress) -> float:
        return self.by_if.get(ifname, self.default).of(address)

    def request(self, instance: str, ifname: str, address: IPAddress, now: float,
                rank: tuple[int, int] = (0, 0)) -> bool:  # fmt: skip
        """True: send it now (and the interface is busy for its spacing); False: pending.
        ``rank``: (instance, VIP) position in the configuration, the order pending ones go."""
        key = (ifname, address.version)
        spacing = self._spacing(ifname, address)
        if spacing and now < self._next.get(key, now):
            self._pending[(instance, ifname, address)] = rank
            return False
        if spacing:
            self._next[key] = now + spacing
        return True

    def due(self, now: float) -> list[Pending]:
        """The pending announcements that may go at ``now`` (in rank order), now sent."""
        out: list[Pending] = []
        for item in sorted(self._pending, key=self._pending.__getitem__):
            _, ifname, address = item
            key = (ifname, address.version)
            if now >= self._next.get(key, now):
                self._next[key] = now + self._spacing(ifname, address)
                del self._pending[item]
                out.append(item)
        return out

    def sent(self, ifname: str, address: IPAddress, now: float) -> None:
        """The announcement left at ``now``: the spacing counts from there (keepalived sets
        its next time after the send)."""
        spacing = self._spacing(ifname, address)
        if spacing:
            self._next[(ifname, address.version)] = now + spacing

    def next_time(self) -> float | None:
        times = [self._next.get((i, a.version), 0.0) for _, i, a in self._pending]
        return min(times) if times else None

    def drop(self, instance: str) -> None:
        """``instance`` left MASTER: nothing of it is still to be announced."""
        for item in [p for p in self._pending if p[0] == instance]:
            del self._pending[item]


@dataclass
class PacedAnnouncer:
    """Announces through ``port`` at once, or later from one timer task when paced."""

    port: AnnouncePort
    pacer: GarpPacer
    now: Callable[[], float]
    _task: "asyncio.Task[None] | None" = None

    def announce(self, instance: str, ifname: str, address: IPAddress,
                 rank: tuple[int, int] = (0, 0)) -> None:  # fmt: skip
        if self.pacer.request(instance, ifname, address, self.now(), rank):
            self._send(instance, ifname, address)
        elif self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._drain(), name="vrrp-garp")

    def drop(self, instance: str) -> None:
        self.pacer.drop(instance)

    async def _drain(self) -> None:
        while (when := self.pacer.next_time()) is not None:
            await asyncio.sleep(max(0.0, when - self.now()))
            for instance, ifname, address in self.pacer.due(self.now()):
                self._send(instance, ifname, address)

    def _send(self, instance: str, ifname: str, address: IPAddress) -> None:
        try:
            self.port.announce(ifname, address)
        except KernelError as exc:
            log.error("(%s) %s", instance, exc)
        self.pacer.sent(ifname, address, self.now())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def extra_if_targets(
    vips: tuple[VipSpec, ...], own: str, *, every: bool, xmit_base: bool, vmacs: frozenset[str]
) -> list[VipSpec]:
    """The VIPs a ``garp_extra_if`` round announces: the first VIP of each interface other
    than the instance's own (``own``: its VMAC if it has one), as keepalived 2.2.7's
    ``vrrp_send_vmac_update`` walks them (VIPs, then excluded ones). Without ``all``
    (``every``) only VMAC interfaces count; the instance's own one only with vmac_xmit_base
    (its adverts then leave from the base, so nothing else refreshes the VMAC's MAC). Nothing
    at all unless some VIP is on another interface that counts (``vrrp_complete_instance``
    turns the timer off then)."""
    others = [v for v in vips if v.ifname != own]
    if not any(every or v.ifname in vmacs for v in others):
        return []
    out: list[VipSpec] = []
    done: set[str] = set()
    for vip in vips:
        if vip.ifname not in vmacs and not every:
            continue
        if (vip.ifname == own and not xmit_base) or vip.ifname in done:
            continue
        done.add(vip.ifname)
        out.append(vip)
    return out
