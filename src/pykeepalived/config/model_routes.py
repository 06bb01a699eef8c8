"""Routes and policy rules: ``virtual_routes`` / ``static_routes`` and ``virtual_rules`` /
``static_rules`` lines, parsed as keepalived parses them (``vrrp_iproute.c`` ``alloc_route``,
``vrrp_iprule.c`` ``alloc_rule``).

Rules: one frozen value per line, ``ip route`` / ``ip rule`` syntax, with keepalived's defaults:
a route goes to table main (254), type unicast, scope universe; routes and rules carry protocol
``keepalived`` (18) unless the line says otherwise, which is also how we recognise ours in the
kernel. A rule needs an action (table/goto/nop/blackhole/unreachable/prohibit). Table names other
than main/default/local stay names here and are resolved from ``rt_tables`` at run time (a
converter never reads the machine). An option keepalived knows and we do not implement is an
error at its token, never silently dropped.
"""

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pykeepalived.config.diagnostics import Location
from pykeepalived.config.grammar import BadValue, Context
from pykeepalived.config.lexer import Token
from pykeepalived.config.tree import Statement
from pykeepalived.config.values import IPAddress, IPNetwork, no_block, to_address, to_int

RTPROT_KEEPALIVED = 18
RT_TABLE_MAIN = 254
TABLES = {"default": 253, "main": 254, "local": 255}
ROUTE_TYPES = ("unicast", "local", "broadcast", "anycast", "multicast", "blackhole",
               "unreachable", "prohibit", "throw", "nat")  # fmt: skip
SCOPES = {"global": 0, "universe": 0, "site": 200, "link": 253, "host": 254, "nowhere": 255}
PROTOCOLS = {"unspec": 0, "redirect": 1, "kernel": 2, "boot": 3, "static": 4, "ra": 9,
             "mrt": 10, "zebra": 11, "bird": 12, "dnrouted": 13, "xorp": 14, "ntk": 15,
             "dhcp": 16, "keepalived": 18, "babel": 42, "bgp": 186, "isis": 187, "ospf": 188,
             "rip": 189, "eigrp": 192}  # fmt: skip
ROUTE_METRICS = ("mtu", "advmss", "hoplimit", "initcwnd", "initrwnd", "window", "cwnd",
                 "ssthresh", "reordering")  # fmt: skip
RULE_ACTIONS = ("blackhole", "unreachable", "prohibit")
ANY = ("default", "any", "all")
_UNSUPPORTED_ROUTE = ("encap", "expires", "rtt", "rttvar", "rto_min", "realms", "features",
                      "quickack", "congctl", "ttl-propagate", "fastopen_no_cookie", "as", "or",
                      "vrf", "add", "append", "prepend")  # fmt: skip
_UNSUPPORTED_RULE = ("realms", "tunnel-id", "suppress_ifgroup", "sup_group")
RULE_START_PRIORITY = 16384  # keepalived's first automatic rule preference


@dataclass(frozen=True, slots=True, kw_only=True)
class NextHop:
    """One ``nexthop via ADDR [dev IF] [weight N] [onlink]`` of a multipath route."""

    via: IPAddress | None = None
    dev: str | None = None
    weight: int = 1
    onlink: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class IpRoute:
    """One route line. ``dst`` is a network (``default`` is the family's /0); ``src`` is the
    preferred source (``ip route ... src``), ``from_`` the IPv6 source prefix."""

    family: int
    dst: IPNetwork
    type: str = "unicast"
    via: IPAddress | None = None
    src: IPAddress | None = None
    from_: IPNetwork | None = None
    dev: str | None = None
    table: int | str = RT_TABLE_MAIN
    metric: int | None = None
    scope: int | None = None
    protocol: int = RTPROT_KEEPALIVED
    tos: int | None = None
    onlink: bool = False
    pref: str | None = None
    metrics: tuple[tuple[str, int], ...] = ()
    locked: tuple[str, ...] = ()
    nexthops: tuple[NextHop, ...] = ()
    no_track: bool = False
    track_group: str | None = None
    location: Location | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class IpRule:
    """One rule line. ``priority`` None means "not given": keepalived then picks one (16384
    downwards, per family, in file order) and warns; ``resolve_rule_priorities`` does that."""

    family: int
    action: str
    from_: IPNetwork | None = None
    to: IPNetwork | None = None
    table: int | str | None = None
    goto: int | None = None
    priority: int | None = None
    invert: bool = False
    tos: int | None = None
    fwmark: int | None = None
    fwmask: int | None = None
    iif: str | None = None
    oif: str | None = None
    uidrange: tuple[int, int] | None = None
    sport: tuple[int, int] | None = None
    dport: tuple[int, int] | None = None
    ipproto: int | None = None
    suppress_prefixlength: int | None = None
    l3mdev: bool = False
    protocol: int | None = RTPROT_KEEPALIVED
    no_track: bool = False
    track_group: str | None = None
    location: Location | None = field(default=None, compare=False)


class _Words:
    """A cursor over a line's tokens (the keyword is the first word)."""

    def __init__(self, st: Statement) -> None:
        self.tokens = [st.keyword, *st.args]
        self.i = 0
        self.st = st

    def more(self) -> bool:
        return self.i < len(self.tokens)

    def peek(self) -> Token | None:
        return self.tokens[self.i] if self.more() else None

    def take(self) -> Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def value(self, after: Token) -> Token:
        if not self.more():
            raise BadValue(after, f"'{after.text}' needs a value", "missing")
        return self.take()


class _Family:
    """The line's address family: the first of inet/inet6 or an address decides; a mix is an
    error at the token that mixes."""

    def __init__(self) -> None:
        self.value: int | None = None

    def see(self, token: Token, version: int) -> None:
        if self.value is None:
            self.value = version
        elif self.value != version:
            raise BadValue(token, "cannot mix IPv4 and IPv6 in one line", "family")


def _network(token: Token, family: _Family) -> IPNetwork | None:
    """A prefix (``10.0.0.0/8``, an address = host route); None for default/any/all."""
    if token.text in ANY:
        return None
    try:
        net = ipaddress.ip_network(token.text.split("%", 1)[0], strict=True)
    except ValueError as exc:
        raise BadValue(token, f"'{token.text}' is not a prefix ({exc})", "address") from None
    family.see(token, net.version)
    return net


def _address(token: Token, family: _Family) -> IPAddress:
    address = to_address(token)
    family.see(token, address.version)
    return address


def _table(token: Token) -> int | str:
    if token.text in TABLES:
        return TABLES[token.text]
    if token.text.isdigit():
        return to_int(token, 1, (1 << 32) - 1)
    if token.text and (token.text[0].isalpha() or token.text[0] == "_"):
        return token.text  # an rt_tables name, resolved at run time
    raise BadValue(token, f"'{token.text}' is not a routing table", "value")


def _named(token: Token, names: dict[str, int], what: str, hi: int = 255) -> int:
    if token.text in names:
        return names[token.text]
    if token.text.isdigit() or token.text.lower().startswith("0x"):
        try:
            value = int(token.text, 0)
        except ValueError:
            value = -1
        if 0 <= value <= hi:
            return value
    raise BadValue(token, f"unknown {what} '{token.text}'", "choice")


def _tos(token: Token) -> int:
    return _named(token, {"default": 0}, "TOS value")


def _range(token: Token, hi: int) -> tuple[int, int]:
    low, _, high = token.text.partition("-")
    if not low.isdigit() or (high and not high.isdigit()):
        raise BadValue(token, f"'{token.text}' is not a range N[-M]", "value")
    start, end = int(low), int(high or low)
    if not start <= end <= hi:
        raise BadValue(token, f"'{token.text}' is not a range within 0..{hi}", "range")
    return start, end


# -- routes ----------------------------------------------------------------------------------

_RouteOption = Callable[[_Words, Token, _Family, dict[str, Any]], None]


def _route_via(w: _Words, kw: Token, fam: _Family, out: dict[str, Any]) -> None:
    if kw.text == "gw":
        pass  # keepalived warns that 'gw' is deprecated; same meaning
    token = w.value(kw)
    if token.text in ("inet", "inet6"):
        token = w.value(token)
    out["via"] = _address(token, fam)


def _route_metric(w: _Words, kw: Token, fam: _Family, out: dict[str, Any]) -> None:
    token = w.value(kw)
    if token.text == "lock":
        out.setdefault("locked", []).append(kw.text)
        token = w.value(token)
    out.setdefault("metrics", []).append((kw.text, to_int(token, 0, (1 << 32) - 1)))


def _route_pref(w: _Words, kw: Token, fam: _Family, out: dict[str, Any]) -> None:
    token = w.value(kw)
    if token.text not in ("low", "medium", "high"):
        raise BadValue(token, "pref is one of low, medium, high", "choice")
    fam.see(kw, 6)
    out["pref"] = token.text


def _route_from(w: _Words, kw: Token, fam: _Family, out: dict[str, Any]) -> None:
    net = _network(w.value(kw), fam)
    if net is not None and net.version != 6:
        raise BadValue(kw, "a route's 'from' prefix is for IPv6 only", "family")
    out["from_"] = net


_ROUTE_OPTIONS: dict[str, _RouteOption] = {
    "via": _route_via,
    "gw": _route_via,
    "src": lambda w, kw, fam, out: out.__setitem__("src", _address(w.value(kw), fam)),
    "from": _route_from,
    "dev": lambda w, kw, fam, out: out.__setitem__("dev", w.value(kw).text),
    "oif": lambda w, kw, fam, out: out.__setitem__("dev", w.value(kw).text),
    "table": lambda w, kw, fam, out: out.__setitem__("table", _table(w.value(kw))),
    "metric": lambda w, kw, fam, out: out.__setitem__(
        "metric", to_int(w.value(kw), 0, (1 << 32) - 1)
    ),
    "scope": lambda w, kw, fam, out: out.__setitem__("scope", _named(w.value(kw), SCOPES, "scope")),
    "protocol": lambda w, kw, fam, out: out.__setitem__(
        "protocol", _named(w.value(kw), PROTOCOLS, "protocol")
    ),
    "tos": lambda w, kw, fam, out: out.__setitem__("tos", _tos(w.value(kw))),
    "onlink": lambda w, kw, fam, out: out.__setitem__("onlink", True),
    "pref": _route_pref,
    "no_track": lambda w, kw, fam, out: out.__setitem__("no_track", True),
    "track_group": lambda w, kw, fam, out: out.__setitem__("track_group", w.value(kw).text),
    "inet": lambda w, kw, fam, out: fam.see(kw, 4),
    "inet6": lambda w, kw, fam, out: fam.see(kw, 6),
}
_ROUTE_OPTIONS |= {name: _route_metric for name in ROUTE_METRICS}
_ROUTE_OPTIONS |= {"priority": _ROUTE_OPTIONS["metric"], "preference": _ROUTE_OPTIONS["metric"]}
_ROUTE_OPTIONS |= {"dsfield": _ROUTE_OPTIONS["tos"]}


def route_line(st: Statement, ctx: Context) -> IpRoute:
    """``[type] [to] DEST [via ADDR] [dev IF] [src ADDR] [table N] [metric N] ... [nexthop ..]``"""
    no_block(st)
    w, fam = _Words(st), _Family()
    out: dict[str, Any] = {}
    dst: tuple[Token, IPNetwork | None] | None = None
    while w.more():
        kw = w.take()
        if kw.text == "nexthop":
            out["nexthops"] = _nexthops(w, kw, fam)
            break
        option = _ROUTE_OPTIONS.get(kw.text)
        if option is not None:
            option(w, kw, fam, out)
            continue
        if kw.text in _UNSUPPORTED_ROUTE:
            raise BadValue(kw, f"route option '{kw.text}' is not supported by pykeepalived",
                           "unsupported")  # fmt: skip
        dst = _route_destination(w, kw, fam, out, again=dst is not None)
    if dst is None:
        raise BadValue(st.keyword, "a route needs a destination", "missing")
    family = fam.value or 4
    net = dst[1] or ipaddress.ip_network("::/0" if family == 6 else "0.0.0.0/0")
    if "locked" in out:
        out["locked"] = tuple(out["locked"])
    if "metrics" in out:
        out["metrics"] = tuple(out["metrics"])
    protocol = out.pop("protocol", RTPROT_KEEPALIVED)
    if not out.get("no_track") and protocol != RTPROT_KEEPALIVED:
        ctx.diags.warning(st.location, "a tracked route has protocol keepalived (18); "
                          "the protocol given is ignored", "value")  # fmt: skip
        protocol = RTPROT_KEEPALIVED
    return IpRoute(family=family, dst=net, protocol=protocol, location=st.location, **out)


def _route_destination(
    w: _Words, kw: Token, fam: _Family, out: dict[str, Any], *, again: bool
) -> tuple[Token, IPNetwork | None]:
    token = kw
    if token.text == "to":
        token = w.value(token)
    if token.text in ROUTE_TYPES:
        out["type"] = token.text
        token = w.value(token)
    if token.text not in ANY and not (token.text[:1].isdigit() or ":" in token.text):
        raise BadValue(token, f"unknown route keyword '{token.text}'", "syntax")
    if again:
        raise BadValue(token, f"unexpected '{token.text}' (a route has one destination)", "syntax")
    return token, _network(token, fam)


def _nexthops(w: _Words, first: Token, fam: _Family) -> tuple[NextHop, ...]:
    hops: list[NextHop] = []
    kw: Token | None = first
    while kw is not None:
        hop: dict[str, Any] = {}
        while w.more() and (peek := w.peek()) is not None and peek.text != "nexthop":
            option = w.take()
            if option.text == "via":
                hop["via"] = _address(w.value(option), fam)
            elif option.text == "dev":
                hop["dev"] = w.value(option).text
            elif option.text == "weight":
                hop["weight"] = to_int(w.value(option), 1, 256)
            elif option.text == "onlink":
                hop["onlink"] = True
            else:
                raise BadValue(option, f"unknown nexthop option '{option.text}'", "syntax")
        hops.append(NextHop(**hop))
        kw = w.take() if w.more() else None
    return tuple(hops)


def describe(what: object) -> str:
    """A route or rule as ``ip`` would print it, for logs."""
    if isinstance(what, IpRoute):
        words = [] if what.type == "unicast" else [what.type]
        words.append("default" if what.dst.prefixlen == 0 else str(what.dst))
        for label, value in (("via", what.via), ("dev", what.dev), ("src", what.src),
                             ("metric", what.metric)):  # fmt: skip
            if value is not None:
                words += [label, str(value)]
        if what.table != 254:
            words += ["table", str(what.table)]
        return " ".join(words)
    if isinstance(what, IpRule):
        words = ["not"] if what.invert else []
        words += ["from", str(what.from_) if what.from_ else "all"]
        if what.to is not None:
            words += ["to", str(what.to)]
        if what.iif:
            words += ["iif", what.iif]
        if what.fwmark is not None:
            words += ["fwmark", hex(what.fwmark)]
        words += [what.action] + ([str(what.table)] if what.action == "table" else [])
        if what.priority is not None:
            words += ["priority", str(what.priority)]
        return " ".join(words)
    return str(what)
