"""Virtual routes and rules through real rtnetlink (``kernel.routes``), IPv4 and IPv6, in a
namespace of the test's own: every option the grammar takes lands in the kernel as ``ip``
shows it, adding twice or removing twice is reported (False) rather than raised, and nothing
is left after the removals."""

import asyncio

import pytest
from tests.config.syntax_helpers import load_text
from tests.kernel.nsutil import Lan, inside, run

from pykeepalived.config.model_rules import resolve_rule_priorities
from pykeepalived.errors import KernelError
from pykeepalived.kernel.routes import NetlinkRoutes

pytestmark = pytest.mark.root

CONF = """
vrrp_instance VI_1 {
    interface eth1
    virtual_router_id 51
    virtual_ipaddress {
        192.168.88.100/24
    }
    virtual_routes {
        src 192.168.88.8 to 10.99.0.0/16 via 192.168.88.1 dev eth1 metric 5
        10.95.0.0/16 nexthop via 192.168.88.1 weight 2 nexthop via 192.168.88.2
        10.91.0.0/16 via 192.168.88.1 mtu lock 1400 table 200
        10.90.0.0/16 via 10.81.9.254 dev eth1 onlink
        prohibit 10.89.0.0/16 table 7
        2001:db8:99::/48 via fd00:88::1 dev eth1
        inet6 default via fd00:88::1 dev eth1 table 100 pref high
    }
    virtual_rules {
        from 192.168.88.100 table 100 priority 100
        fwmark 0x10/0xff goto 200 priority 150
        not from all blackhole priority 5
        from 10.0.0.0/8 sport 1000-2000 ipproto tcp uidrange 0-100 table 7 priority 6
        from fd00:88::100 table 100 priority 100
        to 10.97.0.0/16 table 8
    }
}
"""

ROUTES = [
    "10.99.0.0/16 via 192.168.88.1 dev eth1 proto keepalived src 192.168.88.8 metric 5",
    "10.95.0.0/16 proto keepalived",
    "10.91.0.0/16 via 192.168.88.1 dev eth1 table 200 proto keepalived mtu lock 1400",
    "10.90.0.0/16 via 10.81.9.254 dev eth1 proto keepalived onlink",
    "prohibit 10.89.0.0/16 table 7 proto keepalived",
    "2001:db8:99::/48 via fd00:88::1 dev eth1 proto keepalived metric 1024 pref medium",
    "default via fd00:88::1 dev eth1 table 100 proto keepalived metric 1024 pref high",
]
RULES = [
    "100:\tfrom 192.168.88.100 lookup 100 proto keepalived",
    "150:\tfrom all fwmark 0x10/0xff goto 200 [unresolved] proto keepalived",
    "5:\tnot from all blackhole proto keepalived",
    "6:\tfrom 10.0.0.0/8 uidrange 0-100 ipproto tcp sport 1000-2000 lookup 7 proto keepalived",
    "16384:\tfrom all to 10.97.0.0/16 lookup 8 proto keepalived",
    "100:\tfrom fd00:88::100 lookup 100 proto keepalived",
]


def shown(ns: str) -> str:
    return "\n".join(
        run(*argv, ns=ns)
        for argv in (
            ("ip", "route", "show", "table", "all"),
            ("ip", "-6", "route", "show", "table", "all"),
            ("ip", "rule", "show"),
            ("ip", "-6", "rule", "show"),
        )
    )


def test_every_option_reaches_the_kernel_and_goes(lan: Lan) -> None:
    ns = lan.host("dir", "192.168.88.8/24", "fd00:88::8/64", nodad=True)
    result = load_text(CONF)
    assert result.config is not None, result.diagnostics
    (inst,) = result.config.vrrp_instance
    rules = resolve_rule_priorities(inst.virtual_rules)

    async def scenario() -> tuple[list[bool], str, list[bool], str]:
        with inside(ns):
            port = NetlinkRoutes()
            added = [await port.add_route(r) for r in inst.virtual_routes]
            added += [await port.add_rule(r) for r in rules]
            added += [await port.add_route(r) for r in inst.virtual_routes]
            added += [await port.add_rule(r) for r in rules]
            during = shown(ns)
            removed = [await port.remove_rule(r) for r in rules]
            removed += [await port.remove_route(r) for r in inst.virtual_routes]
            removed += [await port.remove_rule(r) for r in rules]
            removed += [await port.remove_route(r) for r in inst.virtual_routes]
            await port.close()
        return added, during, removed, shown(ns)

    added, during, removed, after = asyncio.run(scenario())
    count = len(ROUTES) + len(RULES)
    assert added == [True] * count + [False] * count
    assert removed == [True] * count + [False] * count
    lines = {line.strip() for line in during.splitlines()}
    for expected in ROUTES + RULES:
        assert expected.strip() in lines, (expected, during)
    assert "keepalived" not in after


def test_a_route_on_a_missing_interface_is_a_kernel_error(lan: Lan) -> None:
    ns = lan.host("dir", "192.168.88.8/24")
    result = load_text(CONF.replace("dev eth1 metric 5", "dev eth9 metric 5"))
    assert result.config is not None
    route = result.config.vrrp_instance[0].virtual_routes[0]

    async def scenario() -> bool:
        with inside(ns):
            port = NetlinkRoutes()
            try:
                with pytest.raises(KernelError, match="eth9"):
                    await port.add_route(route)
                return await port.remove_route(route)  # nothing to remove: not an error
            finally:
                await port.close()

    assert asyncio.run(scenario()) is False
