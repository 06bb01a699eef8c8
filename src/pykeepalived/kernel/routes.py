"""Routes and policy rules through rtnetlink (pyroute2's asyncio IPRoute).

Rules: the only module that writes routes and rules. It speaks the config's value objects
(``IpRoute``, ``IpRule``) and sends what keepalived sends (``netlink_route`` / ``netlink_rule``):
protocol ``keepalived`` (18) unless the line set another, scope universe unless given; a delete
carries the same selectors and the protocol, so the kernel removes our entry and never an
administrator's identical one with another protocol. Idempotent: adding what is there, or
removing what is gone, is reported (False), not raised; any other error becomes ``KernelError``.
Table names are resolved from iproute2's ``rt_tables`` files.
"""

import glob
import os
from typing import TYPE_CHECKING, Any

from pyroute2.netlink.exceptions import NetlinkError

from pykeepalived.config.model_routes import ROUTE_TYPES, IpRoute, IpRule, describe
from pykeepalived.errors import KernelError

if TYPE_CHECKING:
    from pyroute2.iproute.linux import AsyncIPRoute

EEXIST, ENOENT, ESRCH, ENODEV, EADDRNOTAVAIL = 17, 2, 3, 19, 99
RTNH_F_ONLINK = 0x4
RT_SCOPE_NOWHERE = 255
RULE_ACTIONS = {"table": 1, "goto": 2, "nop": 3, "blackhole": 6, "unreachable": 7, "prohibit": 8}
FIB_RULE_INVERT = 0x2
RTAX_LOCK_BITS = {"mtu": 2, "window": 3, "rtt": 4, "rttvar": 5, "ssthresh": 6, "cwnd": 7,
                  "advmss": 8, "reordering": 9, "hoplimit": 10, "initcwnd": 11,
                  "initrwnd": 14}  # fmt: skip
RT_TABLES = ("/etc/iproute2/rt_tables", "/usr/share/iproute2/rt_tables",
             "/usr/lib/iproute2/rt_tables")  # fmt: skip
_GONE = (ENOENT, ESRCH, ENODEV, EADDRNOTAVAIL)


def table_number(table: int | str) -> int:
    """A table as the kernel numbers it: names from rt_tables (and rt_tables.d/*.conf)."""
    if isinstance(table, int):
        return table
    for path in [*RT_TABLES, *sorted(glob.glob("/etc/iproute2/rt_tables.d/*.conf"))]:
        if not os.path.exists(path):
            continue
        with open(path) as f:
            for line in f:
                words = line.split("#", 1)[0].split()
                if len(words) == 2 and words[1] == table and words[0].isdigit():
                    return int(words[0])
    raise KernelError(f"routing table '{table}' is not in rt_tables")


class NetlinkRoutes:
    """``RoutePort`` over rtnetlink."""

    def __init__(self) -> None:
        self._ipr: AsyncIPRoute | None = None

    async def _route(self) -> "AsyncIPRoute":
        if self._ipr is None:
            from pyroute2.iproute.linux import AsyncIPRoute  # heavy: only once routes are used

            self._ipr = AsyncIPRoute()
            await self._ipr.setup_endpoint()
        return self._ipr

    async def _index(self, ifname: str) -> int:
        found = await (await self._route()).link_lookup(ifname=ifname)
        if not found:
            raise KernelError(f"interface {ifname} does not exist")
        return int(found[0])

    async def add_route(self, route: IpRoute) -> bool:
        return await self._talk("route", "add", await self._route_args(route, add=True), route)

    async def remove_route(self, route: IpRoute) -> bool:
        try:
            args = await self._route_args(route, add=False)
        except KernelError:
            return False  # its interface is gone, and the route with it
        return await self._talk("route", "del", args, route)

    async def add_rule(self, rule: IpRule) -> bool:
        return await self._talk("rule", "add", _rule_args(rule), rule)

    async def remove_rule(self, rule: IpRule) -> bool:
        return await self._talk("rule", "del", _rule_args(rule), rule)

    async def _talk(self, kind: str, verb: str, args: dict[str, Any], what: object) -> bool:
        ipr = await self._route()
        try:
            await getattr(ipr, kind)(verb, **args)
        except NetlinkError as exc:
            if (verb == "add" and exc.code == EEXIST) or (verb == "del" and exc.code in _GONE):
                return False
            raise KernelError(f"cannot {verb} {kind} {describe(what)}: {exc}") from exc
        return True

    async def _route_args(self, route: IpRoute, *, add: bool) -> dict[str, Any]:
        args: dict[str, Any] = {
            "family": 2 if route.family == 4 else 10,
            "dst": str(route.dst.network_address),
            "dst_len": route.dst.prefixlen,
            "table": table_number(route.table),
            "proto": route.protocol,
            "scope": route.scope if route.scope is not None else (0 if add else RT_SCOPE_NOWHERE),
        }
        if add or route.type != "unicast":
            args["type"] = ROUTE_TYPES.index(route.type) + 1
        if route.via is not None:
            args["gateway"] = str(route.via)
        if route.dev is not None:
            args["oif"] = await self._index(route.dev)
        if route.src is not None:
            args["prefsrc"] = str(route.src)
        if route.from_ is not None:
            args["src"], args["src_len"] = str(route.from_.network_address), route.from_.prefixlen
        if route.metric is not None:
            args["priority"] = route.metric
        if route.tos is not None:
            args["tos"] = route.tos
        if route.onlink:
            args["flags"] = RTNH_F_ONLINK
        if route.pref is not None:
            args["pref"] = {"low": 3, "medium": 0, "high": 1}[route.pref]
        if add and route.metrics:
            args["metrics"] = _metrics(route)
        if route.nexthops:
            args["multipath"] = [await self._hop(h) for h in route.nexthops]
        return args

    async def _hop(self, hop: Any) -> dict[str, Any]:
        out: dict[str, Any] = {"hops": hop.weight - 1}
        if hop.via is not None:
            out["gateway"] = str(hop.via)
        if hop.dev is not None:
            out["oif"] = await self._index(hop.dev)
        if hop.onlink:
            out["flags"] = RTNH_F_ONLINK
        return out

    async def close(self) -> None:
        if self._ipr is not None:
            self._ipr.close()
            self._ipr = None


def _metrics(route: IpRoute) -> dict[str, int]:
    out = {f"RTAX_{name.upper()}": value for name, value in route.metrics}
    lock = 0
    for name in route.locked:
        lock |= 1 << RTAX_LOCK_BITS[name]
    if lock:
        out["RTAX_LOCK"] = lock
    return out


def _rule_args(rule: IpRule) -> dict[str, Any]:
    args: dict[str, Any] = {
        "family": 2 if rule.family == 4 else 10,
        "action": RULE_ACTIONS[rule.action],
    }
    if rule.action == "table" and not rule.l3mdev:
        args["table"] = table_number(rule.table if rule.table is not None else 254)
    if rule.from_ is not None:
        args["src"], args["src_len"] = str(rule.from_.network_address), rule.from_.prefixlen
    if rule.to is not None:
        args["dst"], args["dst_len"] = str(rule.to.network_address), rule.to.prefixlen
    optional = {
        "priority": rule.priority,
        "tos": rule.tos,
        "fwmark": rule.fwmark,
        "fwmask": rule.fwmask,
        "iifname": rule.iif,
        "oifname": rule.oif,
        "goto": rule.goto,
        "suppress_prefixlen": rule.suppress_prefixlength,
        "protocol": rule.protocol,
        "ip_proto": rule.ipproto,
    }
    args |= {k: v for k, v in optional.items() if v is not None}
    if rule.invert:
        args["flags"] = FIB_RULE_INVERT
    if rule.l3mdev:
        args["l3mdev"] = 1
    for name, value in (("uid_range", rule.uidrange), ("sport_range", rule.sport),
                        ("dport_range", rule.dport)):  # fmt: skip
        if value is not None:
            args[name] = f"{value[0]}:{value[1]}"
    return args
