"""Ports of the VRRP side: what the VRRP driver needs from the machine.

Rules: typing.Protocols and the value types they speak; no implementation here. The VRRP
driver (``vrrp/node.py``) depends on these only; the composition root (``cli``) picks the real
adapters (``netlink``, ``vrrp_socket``, ``announce``). This module must not import the data-plane
port, so that VRRP never depends on LVS, even indirectly.
"""

from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface, IPv6Address, IPv6Interface
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from pykeepalived.config.model_routes import IpRoute, IpRule

IPAddress = IPv4Address | IPv6Address
IPInterface = IPv4Interface | IPv6Interface


@dataclass(frozen=True, slots=True, kw_only=True)
class Received:
    """One datagram off a VRRP socket.

    ``data`` starts with the IPv4 header when ``has_ip_header`` (IPv4 raw sockets deliver it);
    IPv6 raw sockets deliver the payload only, with the hop limit from ancillary data.
    ``arrived``: when the kernel queued it, on the ``time.monotonic()`` scale (None: unknown).
    """

    data: bytes
    src: IPAddress
    dst: IPAddress | None
    ttl: int | None
    has_ip_header: bool
    arrived: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class EarlyReceived:
    """What a receive socket opened at process start queued before the driver began.

    ``since``: listening since then (``time.monotonic()``); ``adverts`` in arrival order;
    ``complete``: False when the kernel dropped some (queue overflow), so the quiet it shows is
    not proof that no master spoke."""

    since: float
    adverts: tuple[Received, ...]
    complete: bool


class VrrpTransport(Protocol):
    def send(self, payload: bytes, dst: IPAddress, *, ttl: int = 255) -> None:
        """Send one VRRP message (the payload after the IP header); ``ttl`` is the TTL / hop
        limit of a unicast one (``unicast_ttl``); multicast always goes with 255."""
        ...

    async def receive(self) -> Received: ...

    def take_early(self) -> EarlyReceived | None:
        """Once, before the first ``receive``: what this transport heard before the driver
        started, if its socket was listening from process start (``kernel.vrrp_listen``)."""
        ...

    def follow_interface(self) -> bool:
        """Re-open on the interface now bearing the name, if it was deleted and made again;
        True when it did."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class VipSpec:
    """A virtual address as netlink needs it (``virtual_ipaddress`` line, resolved)."""

    address: IPInterface
    ifname: str
    label: str | None = None
    scope: str | None = None
    broadcast: IPAddress | None = None
    peer: IPInterface | None = None
    noprefixroute: bool = False
    nodad: bool = False
    home: bool = False
    mngtmpaddr: bool = False  # IPv6 /64: the kernel makes temporary addresses from it
    autojoin: bool = False  # a multicast address: the kernel joins its group on the interface
    preferred_lft_s: int | None = None  # IPv6 only; None: preferred forever, 0: deprecated


class AddressPort(Protocol):
    async def add(self, vip: VipSpec) -> bool:
        """Add ``vip``; False when it was already there (not an error)."""
        ...

    async def remove(self, vip: VipSpec) -> bool:
        """Remove ``vip``; False when it was not there (not an error)."""
        ...

    async def addresses(self, ifname: str) -> set[IPInterface]: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class AddressGone:
    """The kernel says ``address`` left ``ifname``. Both None: notifications were lost (the
    socket overflowed) or the watch just began, so any address may have gone."""

    ifname: str | None
    address: IPInterface | None


class AddressWatchPort(Protocol):
    def removed(self) -> AsyncIterator[AddressGone]:
        """Every address removal on this host's interfaces, ours included, from now on;
        the first item is the "any may have gone" one."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class RoutingGone:
    """A route or rule of ours (protocol 18) was deleted; ``any``: notifications were lost or
    the watch just began, so any may have gone."""

    kind: str  # "route", "rule" or "any"


class RouteWatchPort(Protocol):
    def removed(self) -> AsyncIterator[RoutingGone]:
        """Every deletion of a route or rule of ours from now on; first an ``any``."""
        ...


class AnnouncePort(Protocol):
    def announce(self, ifname: str, address: IPAddress) -> None:
        """One gratuitous ARP (IPv4) or unsolicited neighbour advertisement (IPv6)."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkState:
    ifname: str
    up: bool


class LinkPort(Protocol):
    async def is_up(self, ifname: str) -> bool: ...

    def watch(self) -> AsyncIterator[LinkState]: ...


class RoutePort(Protocol):
    """Virtual routes and rules (``kernel.routes``): idempotent, False when nothing changed."""

    async def add_route(self, route: "IpRoute") -> bool: ...

    async def remove_route(self, route: "IpRoute") -> bool: ...

    async def add_rule(self, rule: "IpRule") -> bool: ...

    async def remove_rule(self, rule: "IpRule") -> bool: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class VmacSpec:
    """One instance's VMAC: ``ifname`` on ``base``; ``link_local`` is the IPv6 source address
    it sends adverts from (keepalived copies the base's link-local), None when not needed."""

    ifname: str
    base: str
    mac: str
    family: int
    link_local: IPv6Address | None = None
    group: int | None = None  # the interface group; None: the base's


class VmacPort(Protocol):
    """VMAC interfaces (``kernel.vmac``): ``create`` is idempotent (True when it made a link)."""

    async def create(self, spec: VmacSpec) -> bool: ...

    async def remove(self, spec: VmacSpec) -> bool: ...


class VipFirewallPort(Protocol):
    """Drops traffic to and from the VIPs of instances without accept mode (``no_accept``,
    ``vrrp_strict``) while they hold them; see ``kernel.vip_firewall``."""

    async def prepare(self) -> None:
        """Ready to drop (the table made) before any instance runs."""
        ...

    async def set_dropped(self, instance: str, vips: Collection[VipSpec]) -> None:
        """``instance`` now wants exactly ``vips`` dropped (empty: none)."""
        ...

    async def restore(self) -> bool:
        """Make our table again, with what is wanted, if something removed it (a firewall
        reload's ``nft flush ruleset``); True when it did."""
        ...

    async def close(self) -> None:
        """Nothing of ours left in the kernel."""
        ...
