"""Model of the VRRP side: vrrp_script, vrrp_track_file, vrrp_sync_group, vrrp_instance.

Rules: frozen dataclasses whose field names are keepalived's keywords (keepalived.conf(5));
``None`` means "not set here, inherit" (e.g. from global_defs) where keepalived inherits.
Defaults are keepalived's. Cross-references and ranges that involve more than one keyword are
checked in ``checks``, not here.
"""

from dataclasses import dataclass
from typing import ClassVar

from pykeepalived.config.grammar import Context, Parse, Where, kw, where_field
from pykeepalived.config.model_common import (
    InitFile,
    RunAs,
    Script,
    Tracked,
    deprecated_flag,
    deprecated_word,
    init_file,
    run_as,
    script,
    tracked,
    weight_reverse,
)
from pykeepalived.config.model_routes import IpRoute, IpRule, route_line
from pykeepalived.config.model_rules import rule_line
from pykeepalived.config.model_vrrp_items import (
    GarpExtraIf,
    Ipvlan,
    Member,
    UnicastPeer,
    VirtualIp,
    Vmac,
    garp_extra_if,
    members,
    unicast_peer_line,
    use_ipvlan,
    use_vmac,
    virtual_ip_line,
)
from pykeepalived.config.tree import Statement
from pykeepalived.config.values import (
    IPAddress,
    address,
    block,
    choice,
    flag,
    header_name,
    integer,
    lines,
    no_block,
    number,
    optional_word,
    to_bool,
    word,
    words,
)

STATES = {"MASTER": "MASTER", "BACKUP": "BACKUP"}
AUTH_TYPES = {"PASS": "PASS", "AH": "AH"}


@dataclass(frozen=True, slots=True, kw_only=True)
class VrrpScript:
    BLOCK_NAME: ClassVar[str] = "vrrp_script"
    name: str
    script: str | None = kw(None, optional_word())
    interval: float = kw(1.0, number(0, 1e9))
    timeout: float | None = kw(None, number(0, 1e9))
    weight: int = kw(0, weight_reverse(-253, 253), max_args=2)
    weight_reverse: bool = False
    rise: int = kw(1, integer(1, 1 << 30))
    fall: int = kw(1, integer(1, 1 << 30))
    user: RunAs | None = kw(None, run_as())
    init_fail: bool = kw(False, flag())
    where: Where = where_field()


@dataclass(frozen=True, slots=True, kw_only=True)
class VrrpTrackFile:
    BLOCK_NAME: ClassVar[str] = "vrrp_track_file"
    name: str
    file: str | None = kw(None, optional_word())
    weight: int = kw(1, weight_reverse(-254, 254), max_args=2)
    weight_reverse: bool = False
    init_file: InitFile | None = kw(None, init_file())
    where: Where = where_field()


@dataclass(frozen=True, slots=True, kw_only=True)
class Authentication:
    BLOCK_NAME: ClassVar[str] = "authentication"
    auth_type: str = kw("PASS", choice(AUTH_TYPES, what="auth_type"), max_args=1)
    auth_pass: str | None = kw(None, word(), max_args=1)
    where: Where = where_field()


def _bool_flag() -> Parse:
    """``skip_check_adv_addr [on|off|true|false|yes|no]``: bare keyword means true."""

    def parse(st: Statement, ctx: Context) -> bool:
        no_block(st)
        return True if not st.args else to_bool(st.args[0])

    return parse


@dataclass(frozen=True, slots=True, kw_only=True)
class VrrpInstance:
    BLOCK_NAME: ClassVar[str] = "vrrp_instance"
    name: str
    state: str = kw("BACKUP", choice(STATES, what="state"), max_args=1)
    interface: str | None = kw(None, word(), max_args=1)
    vrf: str | None = kw(None, word())
    use_vmac: Vmac | None = kw(None, use_vmac())
    use_vmac_addr: bool = kw(False, flag())
    vmac_xmit_base: bool = kw(False, flag())
    use_ipvlan: Ipvlan | None = kw(None, use_ipvlan())
    native_ipv6: bool = kw(False, flag())
    dont_track_primary: bool = kw(False, flag())
    track_interface: tuple[Tracked, ...] = kw((), lines(tracked(-253, 253)))
    track_script: tuple[Tracked, ...] = kw((), lines(tracked(-253, 253)))
    track_file: tuple[Tracked, ...] = kw((), lines(tracked(-254, 254)))
    track_process: tuple[Tracked, ...] = kw((), lines(tracked(-254, 254)))
    track_bfd: tuple[Tracked, ...] = kw((), lines(tracked(-253, 253)))
    mcast_src_ip: IPAddress | None = kw(None, address())
    unicast_src_ip: IPAddress | None = kw(None, address())
    mcast_dst_ip: IPAddress | None = kw(None, address())
    track_src_ip: bool = kw(False, flag())
    version: int | None = kw(None, integer(2, 3), max_args=1)
    check_unicast_src: bool = kw(False, flag())
    unicast_peer: tuple[UnicastPeer, ...] = kw((), lines(unicast_peer_line))
    unicast_fault_no_peer: bool = kw(False, flag())
    unicast_ttl: int | None = kw(None, integer(0, 255))
    old_unicast_checksum: tuple[str, ...] | None = kw(None, words())
    garp_master_delay: int | None = kw(None, integer(0, 1 << 20), max_args=1)
    garp_master_repeat: int | None = kw(None, integer(1, 1 << 20), max_args=1)
    garp_lower_prio_delay: int | None = kw(None, integer(0, 1 << 20), max_args=1)
    garp_lower_prio_repeat: int | None = kw(None, integer(0, 1 << 20), max_args=1)
    garp_master_refresh: int | None = kw(None, integer(0, 1 << 20), max_args=1)
    garp_master_refresh_repeat: int | None = kw(None, integer(1, 1 << 20), max_args=1)
    garp_extra_if: GarpExtraIf | None = kw(None, garp_extra_if(), deprecated=("vmac_garp_intvl",))
    down_timer_adverts: int | None = kw(None, integer(1, 100))
    lower_prio_no_advert: bool | None = kw(None, _bool_flag())
    higher_prio_send_advert: bool | None = kw(None, _bool_flag())
    virtual_router_id: int | None = kw(None, integer(1, 255), max_args=1)
    priority: int = kw(100, integer(1, 255), max_args=1)
    advert_int: float = kw(1.0, number(0.01, 255), max_args=1)
    authentication: Authentication | None = kw(None, block(Authentication))
    virtual_ipaddress: tuple[VirtualIp, ...] = kw((), lines(virtual_ip_line))
    virtual_ipaddress_excluded: tuple[VirtualIp, ...] = kw((), lines(virtual_ip_line))
    promote_secondaries: bool = kw(False, flag())
    virtual_routes: tuple[IpRoute, ...] = kw((), lines(route_line))
    virtual_rules: tuple[IpRule, ...] = kw((), lines(rule_line))
    accept: bool = kw(False, flag(), max_args=0)
    no_accept: bool = kw(False, flag(), max_args=0)
    nopreempt: bool = kw(False, flag(), max_args=0)
    preempt: bool = kw(False, flag(), max_args=0)
    preempt_delay: float = kw(0.0, number(0, 1000), max_args=1)
    skip_check_adv_addr: bool | None = kw(None, _bool_flag())
    strict_mode: bool | None = kw(None, _bool_flag())
    debug: int = kw(0, integer(0, 4))
    notify_master: Script | None = kw(None, script())
    notify_backup: Script | None = kw(None, script())
    notify_fault: Script | None = kw(None, script())
    notify_stop: Script | None = kw(None, script())
    notify_deleted: Script | None = kw(None, script())
    notify: Script | None = kw(None, script())
    notify_master_rx_lower_pri: Script | None = kw(None, script())
    notify_priority_changes: bool = kw(False, _bool_flag())
    smtp_alert: bool | None = kw(None, _bool_flag())
    kernel_rx_buf_size: int | None = kw(None, integer(0, 1 << 31))
    linkbeat_use_polling: bool = kw(
        False,
        deprecated_flag(
            "'linkbeat_use_polling' in a vrrp_instance is deprecated; "
            "list the interface in a linkbeat_interfaces block"
        ),
    )
    lvs_sync_daemon_interface: str | None = kw(
        None,
        deprecated_word(
            "'lvs_sync_daemon_interface' in a vrrp_instance is deprecated; use "
            "'lvs_sync_daemon <INTERFACE> <VRRP_INSTANCE>' in global_defs"
        ),
    )
    where: Where = where_field()

    @property
    def all_vips(self) -> tuple[VirtualIp, ...]:
        return self.virtual_ipaddress + self.virtual_ipaddress_excluded

    def accept_mode(self, strict: bool) -> bool:
        """keepalived's accept mode: ``no_accept`` clears it, ``accept`` sets it; otherwise on,
        except under strict mode (``vrrp_strict``/``strict_mode``) where only the address owner
        (priority 255) has it."""
        if self.no_accept:
            return False
        if self.accept:
            return True
        return not (self.strict_mode if self.strict_mode is not None else strict) or (
            self.priority == 255
        )

    @property
    def family(self) -> int | None:
        """4 or 6 from the first VIP, as keepalived decides an instance's address family."""
        for vip in self.virtual_ipaddress:
            return vip.address.version
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class VrrpSyncGroup:
    BLOCK_NAME: ClassVar[str] = "vrrp_sync_group"
    name: str
    group: tuple[Member, ...] = kw((), members())
    track_interface: tuple[Tracked, ...] = kw((), lines(tracked(-253, 253)))
    track_script: tuple[Tracked, ...] = kw((), lines(tracked(-253, 253)))
    track_file: tuple[Tracked, ...] = kw((), lines(tracked(-254, 254)))
    track_process: tuple[Tracked, ...] = kw((), lines(tracked(-254, 254)))
    track_bfd: tuple[Tracked, ...] = kw((), lines(tracked(-253, 253)))
    notify_master: Script | None = kw(None, script())
    notify_backup: Script | None = kw(None, script())
    notify_fault: Script | None = kw(None, script())
    notify_stop: Script | None = kw(None, script())
    notify: Script | None = kw(None, script())
    smtp_alert: bool | None = kw(None, _bool_flag())
    notify_priority_changes: bool = kw(False, _bool_flag())
    sync_group_tracking_weight: bool = kw(False, flag(), deprecated=("global_tracking",))
    where: Where = where_field()


vrrp_instance = block(VrrpInstance, header_name)
vrrp_script = block(VrrpScript, header_name)
vrrp_track_file = block(VrrpTrackFile, header_name)
vrrp_sync_group = block(VrrpSyncGroup, header_name)
