"""Parameters of one VRRP instance, as the core needs them.

Rules: a frozen value the daemon builds from the config model (field names are keepalived's
keywords, units in the names). Validation rejects values keepalived's parser would refuse; the
*adjustments* keepalived makes with a warning (nopreempt or preempt_delay together with
``state MASTER`` or priority 255) are applied here as derived properties, so the core and the
config diagnostics agree on one rule.
"""

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address

from pykeepalived.vrrp.states import State
from pykeepalived.vrrp.timing import PRIO_OWNER, US_PER_CS, US_PER_S

_V3_MAX_CS = 0xFFF


@dataclass(frozen=True, slots=True, kw_only=True)
class InstanceParams:
    """One ``vrrp_instance``.

    ``state`` is the configured initial state (``None``: derived from priority as keepalived
    does, 255 -> MASTER, else BACKUP). ``primary_ip`` is the source address of our adverts,
    compared with a peer's on an equal-priority tie (higher address wins).
    ``startup_delay_s`` is the global ``vrrp_startup_delay``: no BACKUP timer runs out before
    that long after start, not even an address owner's.
    """

    name: str
    virtual_router_id: int
    priority: int = 100
    advert_int_s: float = 1.0
    version: int = 2
    state: State | None = None
    nopreempt: bool = False
    preempt_delay_s: float = 0.0
    primary_ip: IPv4Address | IPv6Address
    down_timer_adverts: int = 3
    lower_prio_no_advert: bool = False
    higher_prio_send_advert: bool = False
    garp_master_delay_s: float = 5.0
    garp_master_repeat: int = 5
    garp_master_refresh_s: float = 0.0
    garp_master_refresh_repeat: int = 1
    garp_lower_prio_repeat: int = 5  # keepalived: vrrp_garp_lower_prio_repeat = garp repeat
    garp_lower_prio_delay_s: float = 5.0
    startup_delay_s: float = 0.0
    garp_extra_if_s: float = 0.0  # MASTER: GARP/NA on the VIPs' other interfaces; 0: never

    def __post_init__(self) -> None:
        _check(1 <= self.virtual_router_id <= 255, "virtual_router_id must be 1..255")
        _check(1 <= self.priority <= PRIO_OWNER, "priority must be 1..255")
        _check(self.version in (2, 3), "version must be 2 or 3")
        _check(self.state in (None, State.MASTER, State.BACKUP), "state must be MASTER|BACKUP")
        _check(1 <= self.down_timer_adverts <= 100, "down_timer_adverts must be 1..100")
        _check(0 <= self.preempt_delay_s <= 1000, "preempt_delay must be 0..1000")
        _check(self.garp_master_delay_s >= 0, "garp_master_delay must be >= 0")
        _check(self.garp_master_refresh_s >= 0, "garp_master_refresh must be >= 0")
        _check(self.garp_extra_if_s >= 0, "garp_extra_if must be >= 0")
        _check(self.garp_master_repeat >= 1, "garp_master_repeat must be >= 1")
        _check(self.garp_master_refresh_repeat >= 1, "garp_master_refresh_repeat must be >= 1")
        _check(self.garp_lower_prio_repeat >= 0, "garp_lower_prio_repeat must be >= 0")
        _check(self.garp_lower_prio_delay_s >= 0, "garp_lower_prio_delay must be >= 0")
        _check(self.startup_delay_s >= 0, "vrrp_startup_delay must be >= 0")
        self._check_advert_int()

    def _check_advert_int(self) -> None:
        """v2 carries whole seconds (1..255) on the wire, v3 centiseconds (1..4095)."""
        cs = round(self.advert_int_s * 100)
        _check(abs(cs - self.advert_int_s * 100) < 1e-6, "advert_int must be whole centiseconds")
        if self.version == 2:
            _check(cs % 100 == 0 and 1 <= cs // 100 <= 255, "v2 advert_int must be 1..255 s")
        else:
            _check(1 <= cs <= _V3_MAX_CS, "v3 advert_int must be 0.01..40.95 s")

    @property
    def advert_int_cs(self) -> int:
        """The configured interval in centiseconds (what a v3 advert carries)."""
        return round(self.advert_int_s * 100)

    @property
    def advert_int_us(self) -> int:
        return self.advert_int_cs * US_PER_CS

    @property
    def is_address_owner(self) -> bool:
        return self.priority == PRIO_OWNER

    @property
    def initial_state(self) -> State:
        """keepalived: no ``state`` means MASTER for the address owner, BACKUP otherwise."""
        if self.state is not None:
            return self.state
        return State.MASTER if self.is_address_owner else State.BACKUP

    @property
    def preempt(self) -> bool:
        """nopreempt is ignored (keepalived warns and clears it) with state MASTER or prio 255."""
        if self.is_address_owner or self.initial_state is State.MASTER:
            return True
        return not self.nopreempt

    @property
    def preempt_delay_us(self) -> int:
        """preempt_delay is cleared by keepalived with state MASTER or nopreempt."""
        if self.initial_state is State.MASTER or not self.preempt:
            return 0
        return round(self.preempt_delay_s * US_PER_S)


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)
