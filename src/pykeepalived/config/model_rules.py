"""Policy rules: ``virtual_rules`` / ``static_rules`` lines as keepalived reads them
(``vrrp_iprule.c`` ``alloc_rule``), and the preferences keepalived gives rules without one.

Rules: pure; the value type ``IpRule`` lives in ``model_routes`` beside ``IpRoute``.
"""

import dataclasses
from collections.abc import Callable, Iterable
from typing import Any

from pykeepalived.config.grammar import BadValue, Context
from pykeepalived.config.lexer import Token
from pykeepalived.config.model_routes import (
    _UNSUPPORTED_RULE,
    RTPROT_KEEPALIVED,
    RULE_ACTIONS,
    RULE_START_PRIORITY,
    IpRule,
    _Family,
    _named,
    _network,
    _range,
    _table,
    _tos,
    _Words,
)
from pykeepalived.config.tree import Statement
from pykeepalived.config.values import no_block, to_int

_U32 = (1 << 32) - 1
_RuleOption = Callable[[_Words, Token, _Family, dict[str, Any]], None]


def _set(name: str, convert: Callable[[Token], object]) -> _RuleOption:
    def option(w: _Words, kw: Token, fam: _Family, out: dict[str, Any]) -> None:
        out[name] = convert(w.value(kw))

    return option


def _action(w: _Words, kw: Token, out: dict[str, Any], action: str) -> None:
    if "action" in out:
        raise BadValue(kw, "a rule has one action: table, goto, nop, blackhole, unreachable, "
                       "prohibit or l3mdev", "syntax")  # fmt: skip
    out["action"] = action
    out["_action_at"] = kw


def _rule_table(w: _Words, kw: Token, fam: _Family, out: dict[str, Any]) -> None:
    token = w.value(kw)
    table = _table(token)
    _action(w, kw, out, "table")
    out["table"] = table


def _rule_fwmark(w: _Words, kw: Token, fam: _Family, out: dict[str, Any]) -> None:
    token = w.value(kw)
    mark, _, mask = token.text.partition("/")
    try:
        out["fwmark"] = int(mark, 0)
        if mask:
            out["fwmask"] = int(mask, 0)
    except ValueError:
        raise BadValue(token, f"'{token.text}' is not a fwmark[/mask]", "value") from None
    if not (0 <= out["fwmark"] <= _U32 and 0 <= out.get("fwmask", 0) <= _U32):
        raise BadValue(token, f"fwmark '{token.text}' is out of range", "range")


def _rule_from_to(w: _Words, kw: Token, fam: _Family, out: dict[str, Any]) -> None:
    out["from_" if kw.text == "from" else "to"] = _network(w.value(kw), fam)


def _goto(w: _Words, kw: Token, fam: _Family, out: dict[str, Any]) -> None:
    target = to_int(w.value(kw), 0, _U32)
    _action(w, kw, out, "goto")
    out["goto"] = target


def _l3mdev(w: _Words, kw: Token, fam: _Family, out: dict[str, Any]) -> None:
    _action(w, kw, out, "table")
    out["l3mdev"] = True


_RULE_OPTIONS: dict[str, _RuleOption] = {
    "from": _rule_from_to,
    "to": _rule_from_to,
    "table": _rule_table,
    "lookup": _rule_table,
    "not": lambda w, kw, fam, out: out.__setitem__("invert", True),
    "priority": _set("priority", lambda t: to_int(t, 0, _U32)),
    "preference": _set("priority", lambda t: to_int(t, 0, _U32)),
    "order": _set("priority", lambda t: to_int(t, 0, _U32)),
    "tos": _set("tos", _tos),
    "dsfield": _set("tos", _tos),
    "fwmark": _rule_fwmark,
    "dev": _set("iif", lambda t: t.text),
    "iif": _set("iif", lambda t: t.text),
    "oif": _set("oif", lambda t: t.text),
    "uidrange": _set("uidrange", lambda t: _range(t, _U32)),
    "sport": _set("sport", lambda t: _range(t, 65535)),
    "dport": _set("dport", lambda t: _range(t, 65535)),
    "ipproto": _set("ipproto", lambda t: _named(t, {"tcp": 6, "udp": 17, "sctp": 132,
                                                    "icmp": 1, "ipv6-icmp": 58}, "ipproto")),
    "suppress_prefixlength": _set("suppress_prefixlength", lambda t: to_int(t, 0, 128)),
    "sup_pl": _set("suppress_prefixlength", lambda t: to_int(t, 0, 128)),
    "protocol": _set("protocol", lambda t: to_int(t, 0, 255)),
    "goto": _goto,
    "nop": lambda w, kw, fam, out: _action(w, kw, out, "nop"),
    "l3mdev": _l3mdev,
    "no_track": lambda w, kw, fam, out: out.__setitem__("no_track", True),
    "track_group": _set("track_group", lambda t: t.text),
    "inet": lambda w, kw, fam, out: fam.see(kw, 4),
    "inet6": lambda w, kw, fam, out: fam.see(kw, 6),
}  # fmt: skip
_RULE_OPTIONS |= {
    name: lambda w, kw, fam, out: _action(w, kw, out, kw.text) for name in RULE_ACTIONS
}


def rule_line(st: Statement, ctx: Context) -> IpRule:
    """``[not] [from P] [to P] [iif IF] [fwmark M[/K]] ... (table N | goto N | nop | blackhole
    | unreachable | prohibit) [priority N]``"""
    no_block(st)
    w, fam = _Words(st), _Family()
    out: dict[str, Any] = {}
    while w.more():
        kw = w.take()
        if kw.text == "type":
            kw = w.value(kw)
        option = _RULE_OPTIONS.get(kw.text)
        if option is None:
            why = "is not supported by pykeepalived" if kw.text in _UNSUPPORTED_RULE else ""
            raise BadValue(kw, f"rule option '{kw.text}' {why or 'is unknown'}", "syntax")
        option(w, kw, fam, out)
    _check_rule(st, out)
    family = fam.value or 4
    explicit = out.pop("protocol", None)
    protocol = None if out.get("no_track") else RTPROT_KEEPALIVED
    if out.get("no_track"):
        protocol = explicit
    elif explicit not in (None, RTPROT_KEEPALIVED):
        ctx.diags.warning(st.location, "a tracked rule has protocol keepalived (18); "
                          "the protocol given is ignored", "value")  # fmt: skip
    if out.get("priority") is None:
        ctx.diags.warning(st.location, "rule has no preference: keepalived picks one from "
                          f"{RULE_START_PRIORITY} downwards, which is probably not what you want",
                          "value")  # fmt: skip
    return IpRule(family=family, protocol=protocol, location=st.location, **out)


def _check_rule(st: Statement, out: dict[str, Any]) -> None:
    action, where = out.get("action"), out.pop("_action_at", st.keyword)
    if action is None:
        raise BadValue(st.keyword, "a rule needs an action (table N, goto N, nop, blackhole, "
                       "unreachable or prohibit)", "missing")  # fmt: skip
    if action == "goto":
        priority = out.get("priority")
        if priority is None or priority >= out["goto"]:
            raise BadValue(where, "a goto rule needs a preference lower than its target",
                           "value")  # fmt: skip
    if action != "table" and "suppress_prefixlength" in out:
        raise BadValue(where, "suppress_prefixlength is only for a table rule", "value")


def resolve_rule_priorities(rules: Iterable[IpRule]) -> list[IpRule]:
    """keepalived's preferences for rules written without one: 16384, 16383 ... per family,
    in the order given (the caller passes every rule of the config in file order)."""
    following = {4: RULE_START_PRIORITY, 6: RULE_START_PRIORITY}
    out: list[IpRule] = []
    for rule in rules:
        if rule.priority is None:
            rule = dataclasses.replace(rule, priority=following[rule.family])
            following[rule.family] -= 1
        out.append(rule)
    return out
