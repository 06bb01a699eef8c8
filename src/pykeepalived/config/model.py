"""The whole configuration: the top-level blocks of keepalived.conf.

Rules: ``KeepalivedConfig`` is what the loader returns and every other layer reads. Top-level
keywords that only tune keepalived's own processes or namespaces (``net_namespace``,
``instance``, ``child_wait_time``, ...) are accepted and kept verbatim as
``RawBlock`` so real configs load unchanged; pykeepalived does not act on them.
"""

from dataclasses import dataclass
from typing import ClassVar

from pykeepalived.config.grammar import Context, Parse, Where, kw, where_field
from pykeepalived.config.model_bgp import BgpSpeaker, bgp_speaker
from pykeepalived.config.model_global import GlobalDefs
from pykeepalived.config.model_lvs import (
    SslContext,
    VirtualServer,
    virtual_server,
)
from pykeepalived.config.model_lvs_group import VirtualServerGroup, virtual_server_group
from pykeepalived.config.model_routes import IpRoute, IpRule, route_line
from pykeepalived.config.model_rules import rule_line
from pykeepalived.config.model_track import (
    BfdInstance,
    GarpGroup,
    LinkbeatInterface,
    TrackGroup,
    UpDownDelay,
    VrrpTrackProcess,
    bfd_instance,
    garp_group,
    interface_up_down_delays,
    linkbeat_interfaces,
    track_group,
    vrrp_track_process,
)
from pykeepalived.config.model_vrrp import (
    VrrpInstance,
    VrrpScript,
    VrrpSyncGroup,
    VrrpTrackFile,
    vrrp_instance,
    vrrp_script,
    vrrp_sync_group,
    vrrp_track_file,
)
from pykeepalived.config.model_vrrp_items import VirtualIp, virtual_ip_line
from pykeepalived.config.tree import Statement
from pykeepalived.config.values import block, flag, integer, lines


@dataclass(frozen=True, slots=True, kw_only=True)
class RawBlock:
    """A statement kept as written: keyword, arguments and nested statements."""

    keyword: str
    args: tuple[str, ...] = ()
    children: tuple["RawBlock", ...] | None = None


def raw() -> Parse:
    def parse(st: Statement, ctx: Context) -> RawBlock:
        return _raw(st)

    return parse


def _raw(st: Statement) -> RawBlock:
    children = None if st.block is None else tuple(_raw(child) for child in st.block)
    return RawBlock(keyword=st.name, args=tuple(t.text for t in st.args), children=children)


@dataclass(frozen=True, slots=True, kw_only=True)
class KeepalivedConfig:
    BLOCK_NAME: ClassVar[str] = "the top level"
    global_defs: GlobalDefs = kw(GlobalDefs(), block(GlobalDefs))
    static_ipaddress: tuple[VirtualIp, ...] = kw((), lines(virtual_ip_line))
    static_routes: tuple[IpRoute, ...] = kw((), lines(route_line))
    static_rules: tuple[IpRule, ...] = kw((), lines(rule_line))
    vrrp_script: tuple[VrrpScript, ...] = kw((), vrrp_script, repeat=True)
    vrrp_track_file: tuple[VrrpTrackFile, ...] = kw(
        (), vrrp_track_file, repeat=True, aliases=("track_file",)
    )
    vrrp_sync_group: tuple[VrrpSyncGroup, ...] = kw((), vrrp_sync_group, repeat=True)
    vrrp_instance: tuple[VrrpInstance, ...] = kw((), vrrp_instance, repeat=True)
    virtual_server_group: tuple[VirtualServerGroup, ...] = kw(
        (), virtual_server_group(), repeat=True
    )
    virtual_server: tuple[VirtualServer, ...] = kw((), virtual_server, repeat=True)
    SSL: SslContext | None = kw(None, block(SslContext))
    vrrp_track_process: tuple[VrrpTrackProcess, ...] = kw((), vrrp_track_process, repeat=True)
    bfd_instance: tuple[BfdInstance, ...] = kw((), bfd_instance, repeat=True)
    garp_group: tuple[GarpGroup, ...] = kw((), garp_group, repeat=True)
    track_group: tuple[TrackGroup, ...] = kw((), track_group, repeat=True)
    linkbeat_interfaces: tuple[LinkbeatInterface, ...] = kw((), linkbeat_interfaces)
    interface_up_down_delays: tuple[UpDownDelay, ...] = kw((), interface_up_down_delays)
    net_namespace: tuple[RawBlock, ...] = kw((), raw(), repeat=True)
    net_namespace_ipvs: tuple[RawBlock, ...] = kw((), raw(), repeat=True)
    instance: tuple[RawBlock, ...] = kw((), raw(), repeat=True)
    use_pid_dir: tuple[RawBlock, ...] = kw((), raw(), repeat=True)
    linkbeat_use_polling: bool = kw(False, flag())
    namespace_with_ipsets: bool = kw(False, flag())
    child_wait_time: int | None = kw(None, integer(0, 1 << 20))
    # pykeepalived extension: active-active directors announcing VIPs over BGP (model_bgp).
    bgp_speaker: BgpSpeaker | None = kw(None, bgp_speaker)
    where: Where = where_field()
