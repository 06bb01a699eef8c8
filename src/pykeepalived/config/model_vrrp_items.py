"""Line items of the VRRP blocks: addresses, unicast peers, routes/rules, member names.

Rules: each item is a frozen value object built from one line of a block (``virtual_ipaddress``,
``unicast_peer``, ``group`` ...; routes and rules: ``model_routes``) by a converter that raises
``BadValue`` on the offending token. Option words are keepalived's (keepalived.conf(5),
vrrp_ipaddress.c).
"""

import re
from dataclasses import dataclass
from typing import Any

from pykeepalived.config.diagnostics import Location
from pykeepalived.config.grammar import BadValue, Context, Parse
from pykeepalived.config.lexer import Token
from pykeepalived.config.tree import Statement
from pykeepalived.config.values import (
    IPAddress,
    IPInterface,
    no_block,
    pick,
    to_address,
    to_int,
    to_interface,
    warn_extra,
)

SCOPES = {"global": "global", "site": "site", "link": "link", "host": "host", "nowhere": "nowhere"}


@dataclass(frozen=True, slots=True, kw_only=True)
class VirtualIp:
    """One ``virtual_ipaddress`` line: ``<IP>[/<MASK>] [brd X] [dev X] [scope X] [label X] ...``.

    ``brd`` is an address, or ``+``/``-`` (set the broadcast from the prefix / none), as ``ip``.
    """

    address: IPInterface
    brd: IPAddress | str | None = None
    dev: str | None = None
    scope: str | None = None
    label: str | None = None
    peer: IPInterface | None = None
    use_vmac: bool = False
    home: bool = False
    nodad: bool = False  # '-nodad': keepalived then keeps DAD on; IPv6 VIPs are NODAD otherwise
    mngtmpaddr: bool = False
    noprefixroute: bool = False
    autojoin: bool = False
    no_track: bool = False
    preferred_lft: str | None = None
    track_group: str | None = None
    location: Location | None = None


_VIP_FLAGS = {
    "use_vmac": "use_vmac",
    "home": "home",
    "-nodad": "nodad",
    "nodad": "nodad",
    "mngtmpaddr": "mngtmpaddr",
    "noprefixroute": "noprefixroute",
    "autojoin": "autojoin",
    "no_track": "no_track",
}
_VIP_OPTIONS = ("brd", "broadcast", "dev", "scope", "label", "peer", "preferred_lft", "track_group")


def virtual_ip_line(st: Statement, ctx: Context) -> VirtualIp:
    no_block(st)
    fields: dict[str, Any] = {"address": to_interface(st.keyword), "location": st.location}
    given: dict[str, Token] = {}
    rest = list(st.args)
    while rest:
        token = rest.pop(0)
        name = token.text
        given[name] = token
        if name in _VIP_FLAGS:
            fields[_VIP_FLAGS[name]] = True
            continue
        if name not in _VIP_OPTIONS:
            raise BadValue(token, f"unknown virtual_ipaddress option '{name}'", "syntax")
        if not rest:
            raise BadValue(token, f"'{name}' needs a value", "missing")
        fields.update(_vip_option(name, rest.pop(0), ctx))
    vip = VirtualIp(**fields)
    _check_kernel_flags(vip, given, ctx)
    return vip


def _check_kernel_flags(vip: VirtualIp, given: dict[str, Token], ctx: Context) -> None:
    """What the kernel refuses (an error here: keepalived would start and fail every add of
    the address) or ignores (a warning) of ``autojoin``, ``mngtmpaddr``, ``preferred_lft``."""
    address = vip.address
    if vip.autojoin and not address.is_multicast:
        why = f"'autojoin' needs a multicast address: the kernel refuses to add {address} with it"
        raise BadValue(given["autojoin"], why, "value")
    if vip.mngtmpaddr and address.version == 6 and address.network.prefixlen != 64:
        why = f"'mngtmpaddr' needs a /64 prefix: the kernel refuses to add {address} with it"
        raise BadValue(given["mngtmpaddr"], why, "value")
    if address.version != 4:
        return
    if vip.mngtmpaddr:
        ctx.diags.warning(given["mngtmpaddr"].location, "'mngtmpaddr' is for IPv6 addresses: "
                          "the kernel ignores it for IPv4", "value")  # fmt: skip
    if vip.preferred_lft not in (None, "forever"):
        ctx.diags.warning(given["preferred_lft"].location, "'preferred_lft' is for IPv6 "
                          "addresses: keepalived and pykeepalived ignore it for IPv4 (the "
                          "address stays preferred)", "value")  # fmt: skip


def _vip_option(name: str, value: Token, ctx: Context) -> dict[str, Any]:
    if name in ("brd", "broadcast"):
        return {"brd": value.text if value.text in ("+", "-") else to_address(value)}
    if name == "scope":
        return {"scope": pick(value, SCOPES, what="scope", ctx=ctx)}
    if name == "peer":
        return {"peer": to_interface(value)}
    if name == "preferred_lft" and value.text != "forever":
        to_int(value, 0, (1 << 32) - 1)
    return {name: value.text}


@dataclass(frozen=True, slots=True, kw_only=True)
class UnicastPeer:
    address: IPAddress
    min_ttl: int | None = None
    max_ttl: int | None = None
    location: Location | None = None


def unicast_peer_line(st: Statement, ctx: Context) -> UnicastPeer:
    no_block(st)
    fields: dict[str, Any] = {"address": to_address(st.keyword), "location": st.location}
    rest = list(st.args)
    while rest:
        token = rest.pop(0)
        if token.text not in ("min_ttl", "max_ttl") or not rest:
            raise BadValue(token, f"unexpected '{token.text}' (expected min_ttl N or max_ttl N)")
        fields[token.text] = to_int(rest.pop(0), 0, 255)
    return UnicastPeer(**fields)


@dataclass(frozen=True, slots=True, kw_only=True)
class Member:
    """A name in a list block, e.g. a ``vrrp_sync_group`` member instance."""

    name: str
    location: Location | None = None


def members() -> Parse:
    """``group { A B }`` or one name per line: keepalived reads every word as a name."""

    def parse(st: Statement, ctx: Context) -> tuple[Member, ...]:
        if st.block is None:
            raise BadValue(st.keyword, f"'{st.name}' needs a {{ }} block", "block")
        out: list[Member] = []
        for line in st.block:
            if line.block is not None:
                raise BadValue(line.keyword, f"'{line.name}' takes no block", "block")
            out += [Member(name=t.text, location=t.location) for t in (line.keyword, *line.args)]
        return tuple(out)

    return parse


@dataclass(frozen=True, slots=True, kw_only=True)
class GarpExtraIf:
    """``garp_extra_if [all] <SECONDS>``: periodic GARP/NA on the VIPs' other interfaces."""

    interval_s: int
    all: bool = False


def garp_extra_if() -> Parse:
    def parse(st: Statement, ctx: Context) -> GarpExtraIf:
        no_block(st)
        words = list(st.args)
        every = bool(words) and words[0].text == "all"
        if every:
            words.pop(0)
        if len(words) != 1:
            where = words[1] if len(words) > 1 else st.keyword
            raise BadValue(where, f"'{st.name}' takes [all] <seconds>", "syntax")
        return GarpExtraIf(interval_s=to_int(words[0], 0, 86400), all=every)

    return parse


@dataclass(frozen=True, slots=True, kw_only=True)
class Vmac:
    """``use_vmac [[name] IFNAME] [MAC] [netlink_notify_msg] [group N]``: a macvlan carrying
    the VRRP MAC; keepalived's defaults are the name ``vrrp.<VRID>`` and the MAC
    00:00:5e:00:01:<VRID> (02 for IPv6). A MAC of five octets is a prefix: the VRID is the
    sixth. A bad name or MAC is reported and ignored, use_vmac stays on (as keepalived)."""

    ifname: str | None = None
    mac: str | None = None
    netlink_notify_msg: bool = False
    group: int | None = None


_MAC = re.compile(r"^[0-9A-Fa-f]{1,2}(:[0-9A-Fa-f]{1,2}){4,5}:?$")


def _vmac_mac(token: Token, ctx: Context) -> str | None:
    """keepalived's vrrp_vmac_handler checks: hex octets, not multicast, not a VRRP MAC."""
    octets = [int(o, 16) for o in token.text.split(":") if o] if _MAC.match(token.text) else []
    if len(octets) not in (5, 6):
        problem = f"'{token.text}' is not a MAC address"
    elif octets[0] & 1:
        problem = f"VMAC MAC address {token.text} is multicast"
    elif octets[:4] == [0, 0, 0x5E, 0] and octets[4] in (1, 2):
        problem = f"VMAC MAC address {token.text} may not be an RFC 5798 address"
    else:
        return ":".join(f"{o:02x}" for o in octets)
    ctx.diags.warning(token.location, problem + " - ignored", "value")
    return None


def _vmac_name(token: Token, ctx: Context) -> str | None:
    """The kernel's dev_name_valid: 1..15 characters, no '/', ':' or space, not . or .."""
    name = token.text
    if 0 < len(name) < 16 and name not in (".", "..") and not any(c in "/: \t" for c in name):
        return name
    ctx.diags.warning(token.location, f"VMAC interface name '{name}' too long or invalid "
                    "characters - ignored", "value")  # fmt: skip
    return None


def use_vmac() -> Parse:
    def parse(st: Statement, ctx: Context) -> Vmac:
        no_block(st)
        fields: dict[str, Any] = {}
        words = list(st.args)
        while words:
            token = words.pop(0)
            if token.text == "netlink_notify_msg":
                fields["netlink_notify_msg"] = True
            elif token.text == "group":
                if not words:
                    raise BadValue(token, "'group' needs a value", "missing")
                fields["group"] = to_int(words.pop(0), 0, (1 << 32) - 1)
            elif ":" in token.text:  # interface names cannot hold a ':'
                fields["mac"] = _vmac_mac(token, ctx)
            else:
                if token.text == "name" and words:
                    token = words.pop(0)
                fields["ifname"] = _vmac_name(token, ctx)
        return Vmac(**fields)

    return parse


@dataclass(frozen=True, slots=True, kw_only=True)
class Ipvlan:
    """``use_ipvlan [IFNAME] [ADDRESS[/PREFIX]] [bridge|private|vepa]``."""

    ifname: str | None = None
    address: IPInterface | None = None
    mode: str | None = None


def use_ipvlan() -> Parse:
    modes = {"bridge": "bridge", "private": "private", "vepa": "vepa"}

    def parse(st: Statement, ctx: Context) -> Ipvlan:
        no_block(st)
        fields: dict[str, Any] = {}
        for token in st.args[:3]:
            if token.text.lower() in modes:
                fields["mode"] = pick(token, modes, what="ipvlan mode", ctx=ctx)
            elif token.text[:1].isdigit() or ":" in token.text:
                fields["address"] = to_interface(token)
            else:
                fields["ifname"] = token.text
        warn_extra(st, ctx, 3)
        return Ipvlan(**fields)

    return parse
