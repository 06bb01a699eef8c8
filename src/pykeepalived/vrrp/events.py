"""What goes into and comes out of the VRRP instance core.

Rules: plain frozen values only. Inputs are facts already decoded and validated by the packet
layer (checksum, TTL, auth, VIP list, unicast peer: not our business here); outputs are actions
the driver performs in order (send, add/remove addresses, gratuitous ARP/NA, log, notify).
Nothing here knows about sockets, netlink or the clock.
"""

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address

from pykeepalived.vrrp.hold import Hold
from pykeepalived.vrrp.states import State

IPAddress = IPv4Address | IPv6Address


@dataclass(frozen=True, slots=True, kw_only=True)
class AdvertReceived:
    """One received VRRP advertisement, as decoded facts.

    ``advert_int_cs`` is the advertised interval in centiseconds for both versions (a v2 packet's
    seconds field times 100), so the core has one unit to compare.
    """

    source: IPAddress
    vrid: int
    version: int
    priority: int
    advert_int_cs: int

    def __post_init__(self) -> None:
        if not 0 <= self.priority <= 255:
            raise ValueError(f"priority {self.priority} outside 0..255")
        if not 1 <= self.vrid <= 255:
            raise ValueError(f"vrid {self.vrid} outside 1..255")
        if self.version not in (2, 3):
            raise ValueError(f"version {self.version} is not 2 or 3")
        limit = 0xFFF if self.version == 3 else 255 * 100  # v3: 12 bits of cs; v2: 8 bits of s
        if not 0 <= self.advert_int_cs <= limit:
            raise ValueError(f"advert_int_cs {self.advert_int_cs} outside 0..{limit}")


@dataclass(frozen=True, slots=True, kw_only=True)
class SendAdvert:
    """Send one advertisement now with this priority (0 means "I am leaving, take over")."""

    priority: int


@dataclass(frozen=True, slots=True, kw_only=True)
class AddVips:
    """Add the virtual addresses (and eVIPs, routes, rules) of the instance."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RemoveVips:
    """Remove the virtual addresses (and eVIPs, routes, rules) of the instance."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SendGratuitous:
    """Send ``repeat`` gratuitous ARPs (IPv4) / unsolicited NAs (IPv6) for every VIP."""

    repeat: int


@dataclass(frozen=True, slots=True, kw_only=True)
class SendExtraGratuitous:
    """garp_extra_if is due: one gratuitous ARP / unsolicited NA on each of the VIPs' other
    interfaces (the driver knows which; keepalived ``vrrp_send_vmac_update``)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class StateChanged:
    """The instance moved ``old -> new``: notify scripts, FIFO, SNMP traps, metrics.

    ``message`` is keepalived's log line (``(VI_1) Entering MASTER STATE``), empty where
    keepalived changes state without one; ``reason`` says why in words, for our own logs and the
    API. ``resumed``: a reloaded instance took over the state
    its predecessor was in; keepalived runs no notify script for that.
    """

    old: State
    new: State
    reason: str
    message: str
    resumed: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class PriorityChanged:
    """The effective priority changed (tracking, or an address-owner conflict); ``master``:
    the instance was MASTER then (keepalived's MASTER_PRIORITY vs BACKUP_PRIORITY notify)."""

    old: int
    new: int
    message: str
    master: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class MasterRxLowerPriority:
    """MASTER heard a lower-priority advert: keepalived's ``notify_master_rx_lower_pri`` event.

    Emitted so a notify script can take back addresses a confused peer may have grabbed.
    """

    source: IPAddress


@dataclass(frozen=True, slots=True, kw_only=True)
class Log:
    """A log line in keepalived's wording. ``detail``: keepalived logs it only with ``-D``."""

    message: str
    detail: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class InstanceSnapshot:
    """What readers (API, metrics, dashboard) may see of an instance: a frozen copy.

    Times are on the caller's ``now`` scale; ``next_timer`` None means no timer is armed.
    """

    name: str
    virtual_router_id: int
    state: State
    base_priority: int
    effective_priority: int
    wants_master: bool
    master_ip: IPAddress | None
    master_priority: int | None
    master_adver_int_s: float
    faults: tuple[tuple[str, str], ...]
    next_timer: float | None
    holds: tuple[Hold, ...] = ()


Action = (
    SendAdvert
    | AddVips
    | RemoveVips
    | SendGratuitous
    | SendExtraGratuitous
    | StateChanged
    | PriorityChanged
    | MasterRxLowerPriority
    | Log
)
