"""Model of the tracked-object and helper blocks: vrrp_track_process, bfd_instance, garp_group,
track_group, linkbeat_interfaces, interface_up_down_delays.

Rules: frozen dataclasses whose field names are keepalived's keywords (keepalived.conf(5));
defaults are keepalived 2.2.7's. ``None`` means "not set here": keepalived then uses a value
that depends on something else (the address family for a BFD TTL, the quorum for quorum_max).
"""

from dataclasses import dataclass
from typing import ClassVar

from pykeepalived.config.grammar import BadValue, Context, Parse, SetFields, Where, kw, where_field
from pykeepalived.config.model_common import weight_reverse
from pykeepalived.config.model_vrrp_items import Member, members
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
    pick,
    to_float,
    word,
)


def _process() -> Parse:
    """``process NAME [PARAM ...]``: the name and the parameters to match, quoting kept."""

    def parse(st: Statement, ctx: Context) -> tuple[str, ...]:
        no_block(st)
        if not st.args:
            raise BadValue(st.keyword, "'process' needs a process name", "missing")
        return tuple(t.text for t in st.args)

    return parse


def _param_match() -> Parse:
    """``param_match [initial|partial]``: the bare keyword means an exact match."""
    options = choice({"initial": "initial", "partial": "partial"}, what="param_match")

    def parse(st: Statement, ctx: Context) -> str:
        return "exact" if not st.args else str(options(st, ctx))

    return parse


def _delay() -> Parse:
    """``delay S`` sets both ``fork_delay`` and ``terminate_delay``; each can be set alone."""
    seconds = number(0, 3600)

    def parse(st: Statement, ctx: Context) -> SetFields:
        value = seconds(st, ctx)
        if st.name == "delay":
            return SetFields(fork_delay=value, terminate_delay=value)
        return SetFields({st.name: value})

    return parse


@dataclass(frozen=True, slots=True, kw_only=True)
class VrrpTrackProcess:
    BLOCK_NAME: ClassVar[str] = "vrrp_track_process"
    name: str
    process: tuple[str, ...] = kw((), _process())
    param_match: str | None = kw(None, _param_match())
    weight: int = kw(0, weight_reverse(-254, 254), max_args=2)  # keepalived: 0 (FAULT)
    weight_reverse: bool = False
    quorum: int = kw(1, integer(1, 65535))
    quorum_max: int | None = kw(None, integer(0, 65535))
    fork_delay: float = kw(0.0, _delay(), aliases=("terminate_delay", "delay"))
    terminate_delay: float = 0.0
    full_command: bool = kw(False, flag())
    where: Where = where_field()


@dataclass(frozen=True, slots=True, kw_only=True)
class BfdInstance:
    """``bfd_instance NAME``: an RFC 5880 session; times in milliseconds as keepalived."""

    BLOCK_NAME: ClassVar[str] = "bfd_instance"
    name: str
    neighbor_ip: IPAddress | None = kw(None, address(), aliases=("neighbour_ip",))
    source_ip: IPAddress | None = kw(None, address())
    min_rx: float = kw(10.0, number(1, 4294967))
    min_tx: float = kw(10.0, number(1, 4294967))
    idle_tx: float = kw(1000.0, number(1000, 4294967))
    multiplier: int = kw(5, integer(1, 255))
    passive: bool = kw(False, flag())
    ttl: int | None = kw(None, integer(1, 255), aliases=("hoplimit",))
    max_hops: int = kw(0, integer(-1, 255))
    weight: int = kw(0, weight_reverse(-253, 253), max_args=2)
    weight_reverse: bool = False
    vrrp: bool = kw(False, flag())
    checker: bool = kw(False, flag())
    where: Where = where_field()


@dataclass(frozen=True, slots=True, kw_only=True)
class GarpGroup:
    """``garp_group``: GARP/NA pacing shared by the interfaces listed (seconds)."""

    BLOCK_NAME: ClassVar[str] = "garp_group"
    garp_interval: float | None = kw(None, number(0, 4294.967295))
    gna_interval: float | None = kw(None, number(0, 4294.967295))
    interface: str | None = kw(None, word())
    interfaces: tuple[str, ...] = kw((), lines(lambda st, ctx: st.keyword.text))
    where: Where = where_field()


@dataclass(frozen=True, slots=True, kw_only=True)
class TrackGroup:
    """``track_group NAME { group { VI_1 ... } }``: instances that track static addresses."""

    BLOCK_NAME: ClassVar[str] = "track_group"
    name: str
    group: tuple[Member, ...] = kw((), members())
    where: Where = where_field()


vrrp_track_process = block(VrrpTrackProcess, header_name)
bfd_instance = block(BfdInstance, header_name)
garp_group = block(GarpGroup)
track_group = block(TrackGroup, header_name)


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkbeatInterface:
    """A ``linkbeat_interfaces`` line: ``IFNAME [MII|ETHTOOL|IOCTL]`` (polled, not netlink)."""

    name: str
    method: str | None = None


def _linkbeat_line(st: Statement, ctx: Context) -> LinkbeatInterface:
    no_block(st)
    if not st.args:
        return LinkbeatInterface(name=st.keyword.text)
    methods = {"MII": "MII", "ETHTOOL": "ETHTOOL", "IOCTL": "IOCTL"}
    method = pick(st.args[0], methods, what="linkbeat polling method", ctx=ctx)
    return LinkbeatInterface(name=st.keyword.text, method=method)


@dataclass(frozen=True, slots=True, kw_only=True)
class UpDownDelay:
    """An ``interface_up_down_delays`` line: ``IFNAME DOWN_S [UP_S]``; up defaults to 0 as in
    keepalived 2.2.7's parser (its man page says "the same as the down delay")."""

    name: str
    down_delay_s: float
    up_delay_s: float


def _up_down_line(st: Statement, ctx: Context) -> UpDownDelay:
    no_block(st)
    if not st.args:
        raise BadValue(st.keyword, f"'{st.name}' needs a down delay in seconds", "missing")
    if len(st.args) > 2:
        raise BadValue(st.args[2], f"unexpected '{st.args[2].text}' (IFNAME DOWN [UP])")
    down = to_float(st.args[0], 0, 255)
    up = to_float(st.args[1], 0, 255) if len(st.args) > 1 else 0.0
    return UpDownDelay(name=st.keyword.text, down_delay_s=down, up_delay_s=up)


linkbeat_interfaces = lines(_linkbeat_line)
interface_up_down_delays = lines(_up_down_line)
