"""Model of ``global_defs`` and the other top-level blocks that are not VRRP or LVS proper.

Rules: frozen dataclasses, field names are keepalived's keywords, defaults are keepalived's.
Keywords that tune keepalived's own process (CPU affinity, SNMP, netlink buffer sizes, ...) are
accepted and kept verbatim in ``other`` so real configs load unchanged; pykeepalived does not act
on them (``--dump-config`` shows them, and their list is ``LOOSE_KEYWORDS``).
"""

import ipaddress
from dataclasses import dataclass
from typing import Any, ClassVar

from pykeepalived.config.grammar import BadValue, Context, Parse, Where, kw, where_field
from pykeepalived.config.model_bgp import hash_seed
from pykeepalived.config.model_common import Fifo, RunAs, Script, fifo, run_as, script
from pykeepalived.config.model_vrrp_items import GarpExtraIf, garp_extra_if
from pykeepalived.config.tree import Statement
from pykeepalived.config.values import (
    IPAddress,
    address,
    flag,
    integer,
    lines,
    no_block,
    number,
    to_address,
    to_bool,
    to_int,
    warn_extra,
    word,
    words,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class SmtpServer:
    address: str
    port: int = 25


def _smtp_server() -> Parse:
    """``smtp_server <IP or name> [<PORT>]``: a name is resolved at run time, not here."""

    def parse(st: Statement, ctx: Context) -> SmtpServer:
        no_block(st)
        if not st.args:
            raise BadValue(st.keyword, "'smtp_server' needs an address", "missing")
        port = to_int(st.args[1], 1, 65535) if len(st.args) > 1 else 25
        return SmtpServer(address=st.args[0].text, port=port)

    return parse


def _bool_or_flag() -> Parse:
    def parse(st: Statement, ctx: Context) -> bool:
        no_block(st)
        return True if not st.args else to_bool(st.args[0])

    return parse


SYNC_GROUP = ipaddress.IPv4Address("224.0.0.81")


@dataclass(frozen=True, slots=True, kw_only=True)
class LvsSyncDaemon:
    """``lvs_sync_daemon <INTERFACE> <VRRP_INSTANCE> [id <0-255>] [maxlen N] [port N] ...``."""

    interface: str
    vrrp_instance: str | None = None
    id: int | None = None  # not given: the instance's virtual_router_id, or 0
    maxlen: int | None = None
    port: int = 8848
    ttl: int | None = None
    group: IPAddress = SYNC_GROUP


def _lvs_sync_daemon() -> Parse:
    def parse(st: Statement, ctx: Context) -> LvsSyncDaemon:
        no_block(st)
        if not st.args:
            raise BadValue(st.keyword, "'lvs_sync_daemon' needs an interface", "missing")
        fields: dict[str, Any] = {"interface": st.args[0].text}
        rest = list(st.args[1:])
        if len(rest) > 1 and rest[0].text == "inst":
            rest.pop(0)
            fields["vrrp_instance"] = rest.pop(0).text
        elif rest and rest[0].text not in ("id", "maxlen", "port", "ttl", "group"):
            fields["vrrp_instance"] = rest.pop(0).text
        while rest:
            option = rest.pop(0)
            if option.text not in ("id", "maxlen", "port", "ttl", "group") or not rest:
                raise BadValue(option, f"unexpected '{option.text}' in lvs_sync_daemon")
            value = rest.pop(0)
            limits = {"id": (0, 255), "maxlen": (1, 65507), "port": (1, 65535), "ttl": (1, 255)}
            if option.text == "group":
                fields["group"] = to_address(value)
            else:
                fields[option.text] = to_int(value, *limits[option.text])
        return LvsSyncDaemon(**fields)

    return parse


@dataclass(frozen=True, slots=True, kw_only=True)
class LvsTimeouts:
    tcp: int | None = None
    tcpfin: int | None = None
    udp: int | None = None


def _lvs_timeouts() -> Parse:
    def parse(st: Statement, ctx: Context) -> LvsTimeouts:
        no_block(st)
        fields: dict[str, int] = {}
        rest = list(st.args)
        while rest:
            name = rest.pop(0)
            if name.text not in ("tcp", "tcpfin", "udp") or not rest:
                raise BadValue(name, f"unexpected '{name.text}' (expected tcp|tcpfin|udp N)")
            fields[name.text] = to_int(rest.pop(0), 0, 1 << 31)
        return LvsTimeouts(**fields)

    return parse


def _lvs_flush_on_stop() -> Parse:
    """``lvs_flush_on_stop [VS]``: ``()`` flush the whole table, ``("VS",)`` remove each
    virtual server; any other word is keepalived's "Unknown lvs_flush_on_stop type"."""

    def parse(st: Statement, ctx: Context) -> tuple[str, ...]:
        no_block(st)
        warn_extra(st, ctx, 1)
        if st.args and st.args[0].text != "VS":
            word = st.args[0]
            raise BadValue(word, f"unknown lvs_flush_on_stop type '{word.text}' (expected VS)")
        return tuple(t.text for t in st.args[:1])

    return parse


@dataclass(frozen=True, slots=True, kw_only=True)
class GlobalDefs:
    BLOCK_NAME: ClassVar[str] = "global_defs"
    LOOSE_KEYWORDS: ClassVar[frozenset[str]] = frozenset(
        [
            "tmp_config_directory",
            "config_save_dir",
            "process_names",
            "process_name",
            "vrrp_process_name",
            "checker_process_name",
            "bfd_process_name",
            "nftables",
            "nftables_priority",
            "nftables_counters",
            "nftables_ifindex",
            "nftables_ipvs",
            "nftables_ipvs_priority",
            "nftables_ipvs_start_fwmark",
            "vrrp_iptables",
            "vrrp_ipsets",
            "disable_local_igmp",
            "max_auto_priority",
            "min_auto_priority_delay",
            "vrrp_priority",
            "checker_priority",
            "bfd_priority",
            "vrrp_no_swap",
            "checker_no_swap",
            "bfd_no_swap",
            "vrrp_cpu_affinity",
            "checker_cpu_affinity",
            "bfd_cpu_affinity",
            "vrrp_rt_priority",
            "checker_rt_priority",
            "bfd_rt_priority",
            "vrrp_rlimit_rttime",
            "checker_rlimit_rttime",
            "bfd_rlimit_rttime",
            "snmp_socket",
            "enable_snmp_vrrp",
            "enable_snmp_checker",
            "enable_snmp_rfc",
            "enable_snmp_rfcv2",
            "enable_snmp_rfcv3",
            "enable_traps",
            "enable_dbus",
            "dbus_service_name",
            "enable_dbus_set_state",
            "vrrp_netlink_cmd_rcv_bufs",
            "vrrp_netlink_cmd_rcv_bufs_force",
            "vrrp_netlink_monitor_rcv_bufs",
            "vrrp_netlink_monitor_rcv_bufs_force",
            "lvs_netlink_cmd_rcv_bufs",
            "lvs_netlink_cmd_rcv_bufs_force",
            "lvs_netlink_monitor_rcv_bufs",
            "lvs_netlink_monitor_rcv_bufs_force",
            "process_monitor_rcv_bufs",
            "process_monitor_rcv_bufs_force",
            "vrrp_rx_bufs_policy",
            "vrrp_rx_bufs_multiplier",
            "umask",
            "random_seed",
            "reload_check_config",
            "include_check",
            "reload_time_file",
            "reload_repeat",
            "reload_file",
            "data_use_instance",
            "net_namespace",
            "net_namespace_ipvs",
            "namespace_with_ipsets",
            "instance",
            "linkbeat_use_polling",
            "lvs_id",
            "vrrp_dont_use_mcast_group",
            "vrrp_track_process_use_polling",
            "use_pid_dir",
            "lvs_process_name",
            "vrrp_rlimit_rtime",
            "checker_rlimit_rtime",
            "bfd_rlimit_rtime",
            "enable_snmp_keepalived",
        ]
    )
    router_id: str | None = kw(None, word(), aliases=("lvs_id",))
    notification_email: tuple[str, ...] = kw((), lines(lambda st, ctx: st.keyword.text))
    notification_email_from: str | None = kw(None, word())
    smtp_server: SmtpServer | None = kw(None, _smtp_server())
    smtp_helo_name: str | None = kw(None, word())
    smtp_connect_timeout: int = kw(30, integer(1, 1 << 20))
    smtp_alert: bool = kw(False, _bool_or_flag())
    # Not set: smtp_alert decides (VRRP instances, real servers may override per object).
    smtp_alert_vrrp: bool | None = kw(None, _bool_or_flag())
    smtp_alert_checker: bool | None = kw(None, _bool_or_flag())
    no_email_faults: bool = kw(False, flag())
    no_checker_emails: bool = kw(False, flag())
    checker_log_all_failures: bool = kw(False, _bool_or_flag())
    rs_init_notifies: bool = kw(False, flag())
    startup_script: Script | None = kw(None, script())
    startup_script_timeout: int = kw(10, integer(1, 1000))
    shutdown_script: Script | None = kw(None, script())
    shutdown_script_timeout: int = kw(10, integer(1, 1000))
    default_interface: str = kw("eth0", word())
    vrrp_mcast_group4: IPAddress = kw(ipaddress.IPv4Address("224.0.0.18"), address())
    vrrp_mcast_group6: IPAddress = kw(ipaddress.IPv6Address("ff02::12"), address())
    lvs_sync_daemon: LvsSyncDaemon | None = kw(None, _lvs_sync_daemon())
    lvs_timeouts: LvsTimeouts | None = kw(None, _lvs_timeouts())
    lvs_flush: bool = kw(False, flag())
    lvs_flush_on_stop: tuple[str, ...] | None = kw(
        None, _lvs_flush_on_stop(), aliases=("lvs_flush_onstop",)
    )
    vrrp_garp_master_delay: int = kw(5, integer(0, 1 << 20))
    vrrp_garp_master_repeat: int = kw(5, integer(1, 1 << 20))
    vrrp_garp_lower_prio_delay: int | None = kw(None, integer(0, 1 << 20))
    vrrp_garp_lower_prio_repeat: int | None = kw(None, integer(0, 1 << 20))
    vrrp_garp_master_refresh: int = kw(0, integer(0, 1 << 20))
    vrrp_garp_master_refresh_repeat: int = kw(1, integer(1, 1 << 20))
    vrrp_min_garp: bool = kw(False, _bool_or_flag())
    vrrp_garp_extra_if: GarpExtraIf | None = kw(
        None, garp_extra_if(), deprecated=("vrrp_vmac_garp_intvl",)
    )
    vrrp_garp_interval: float = kw(0.0, number(0, 1000))
    vrrp_gna_interval: float = kw(0.0, number(0, 1000))
    vrrp_down_timer_adverts: int = kw(3, integer(1, 100))
    vrrp_lower_prio_no_advert: bool = kw(False, _bool_or_flag())
    vrrp_higher_prio_send_advert: bool = kw(False, _bool_or_flag())
    vrrp_version: int = kw(2, integer(2, 3))
    vrrp_check_unicast_src: bool = kw(False, flag())
    vrrp_skip_check_adv_addr: bool = kw(False, flag())
    vrrp_strict: bool = kw(False, flag())
    vrrp_startup_delay: float = kw(0.0, number(0, 3600))
    script_user: RunAs | None = kw(None, run_as())
    enable_script_security: bool = kw(False, flag())
    vrrp_notify_priority_changes: bool = kw(False, _bool_or_flag())
    log_unknown_vrids: bool = kw(False, flag())
    vmac_prefix: str | None = kw(None, word())
    vmac_addr_prefix: str | None = kw(None, word())
    fifo_write_vrrp_states_on_reload: bool = kw(False, flag())
    notify_fifo: Fifo | None = kw(None, fifo())
    notify_fifo_script: Script | None = kw(None, script())
    vrrp_notify_fifo: Fifo | None = kw(None, fifo())
    vrrp_notify_fifo_script: Script | None = kw(None, script())
    lvs_notify_fifo: Fifo | None = kw(None, fifo())
    lvs_notify_fifo_script: Script | None = kw(None, script())
    dynamic_interfaces: tuple[str, ...] | None = kw(None, words())
    v3_checksum_as_v2: bool = kw(False, flag())
    # pykeepalived extensions (not keepalived keywords): the HTTP API, as ``--api``.
    # api_listen [ADDR:]PORT (no ADDR: 127.0.0.1); api_token_file FILE (bearer token for the
    # mutating endpoints; none: they answer 403). See docs/api.md.
    api_listen: str | None = kw(None, word())
    api_token_file: str | None = kw(None, word())
    # lvs_hash_seed N: the seed of the nftables data plane's flow hash (Maglev slots); the
    # same on every active-active director, so that each picks the same real server.
    lvs_hash_seed: int | None = kw(None, hash_seed())
    other: tuple[tuple[str, tuple[str, ...]], ...] = ()
    where: Where = where_field()
