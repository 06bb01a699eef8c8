"""virtual_routes / virtual_rules / static_routes / static_rules: keepalived's grammar, defaults
and diagnostics at the offending token (vrrp_iproute.c alloc_route, vrrp_iprule.c alloc_rule)."""

from ipaddress import ip_address, ip_network
from pathlib import Path

import pytest
from tests.config.syntax_helpers import load_text, messages, only_instance

from pykeepalived.config.loader import load_machine
from pykeepalived.config.model_routes import IpRoute, IpRule, NextHop
from pykeepalived.config.model_rules import resolve_rule_priorities


def _instance(routes: str = "", rules: str = "") -> str:
    return f"""\
vrrp_instance VI_1 {{
    interface eth0
    virtual_router_id 51
    virtual_ipaddress {{
        192.168.1.10/24
    }}
    virtual_routes {{
{routes}
    }}
    virtual_rules {{
{rules}
    }}
}}
"""


def _routes(*lines: str) -> tuple[IpRoute, ...]:
    return only_instance(load_text(_instance(routes="\n".join(lines)))).virtual_routes


def _rules(*lines: str) -> tuple[IpRule, ...]:
    return only_instance(load_text(_instance(rules="\n".join(lines)))).virtual_rules


def test_route_defaults_are_keepalived_s() -> None:
    (route,) = _routes("10.0.0.0/8 via 192.168.1.1 dev eth0")
    assert route == IpRoute(
        family=4,
        dst=ip_network("10.0.0.0/8"),
        via=ip_address("192.168.1.1"),
        dev="eth0",
        table=254,
        protocol=18,
    )


def test_route_options() -> None:
    routes = _routes(
        "src 192.168.1.10 to 10.99.0.0/16 via 192.168.1.1 dev eth0 table 100 metric 7",
        "blackhole 10.97.0.0/16 no_track",
        "unreachable 10.96.0.0/16",
        "10.95.0.0/16 dev eth1 scope link",
        "default via 192.168.1.254 table main priority 3",
        "10.94.0.0/16 nexthop via 192.168.1.1 weight 2 nexthop via 192.168.1.2 dev eth1",
        "10.93.0.0/16 via 192.168.1.1 mtu lock 1400 advmss 1360 table vrrp_table",
        "inet6 default via fe80::1 dev eth0",
    )
    first, blackhole, unreachable, scoped, default, multipath, metrics, v6 = routes
    assert (first.src, first.table, first.metric) == (ip_address("192.168.1.10"), 100, 7)
    assert (blackhole.type, blackhole.no_track, blackhole.via) == ("blackhole", True, None)
    assert unreachable.type == "unreachable"
    assert scoped.scope == 253
    assert (default.dst, default.table, default.metric) == (ip_network("0.0.0.0/0"), 254, 3)
    assert multipath.nexthops == (
        NextHop(via=ip_address("192.168.1.1"), weight=2),
        NextHop(via=ip_address("192.168.1.2"), dev="eth1"),
    )
    assert metrics.metrics == (("mtu", 1400), ("advmss", 1360))
    assert metrics.locked == ("mtu",)
    assert metrics.table == "vrrp_table"  # an rt_tables name, resolved at run time
    assert (v6.family, v6.dst) == (6, ip_network("::/0"))


@pytest.mark.parametrize(
    ("line", "column", "message"),
    [
        ("10.0.0.1/8 via 192.168.1.1", 9, "'10.0.0.1/8' is not a prefix"),
        ("10.0.0.0/8 via 2001:db8::1", 24, "cannot mix IPv4 and IPv6 in one line"),
        ("10.0.0.0/8 encap mpls 100", 20, "route option 'encap' is not supported"),
        ("10.0.0.0/8 via", 20, "'via' needs a value"),
        ("via 192.168.1.1", 9, "a route needs a destination"),
        ("10.0.0.0/8 frobnicate 3", 20, "unknown route keyword 'frobnicate'"),
        ("10.0.0.0/8 metric x", 27, "expected a whole number"),
        ("10.0.0.0/8 scope galaxy", 26, "unknown scope 'galaxy'"),
    ],
)
def test_bad_route_is_reported_at_its_token(line: str, column: int, message: str) -> None:
    result = load_text(_instance(routes=f"        {line}"))
    (diag,) = [d for d in result.diagnostics if d.severity.value == "error"]
    assert (diag.location.line, diag.location.column) == (8, column), diag.render()
    assert message in diag.message


def test_rule_forms() -> None:
    rules = _rules(
        "from 192.168.1.10 table 100 priority 100",
        "to 10.98.0.0/16 lookup 100 priority 101",
        "from 10.82.0.0/24 iif eth1 table main priority 102",
        "fwmark 0x10/0xff goto 200 priority 103",
        "not from all blackhole priority 5",
        "from 10.0.0.0/8 sport 1000-2000 ipproto tcp uidrange 0-100 table 7 priority 6",
        "from 10.1.0.0/16 no_track table 8 priority 7 suppress_prefixlength 0",
    )
    by_from, by_to, iif, goto, blackhole, selectors, untracked = rules
    assert by_from == IpRule(family=4, action="table", from_=ip_network("192.168.1.10/32"),
                             table=100, priority=100, protocol=18)  # fmt: skip
    assert (by_to.to, by_to.table) == (ip_network("10.98.0.0/16"), 100)
    assert (iif.iif, iif.table) == ("eth1", 254)
    assert (goto.action, goto.goto, goto.fwmark, goto.fwmask) == ("goto", 200, 16, 255)
    assert (blackhole.action, blackhole.invert, blackhole.from_) == ("blackhole", True, None)
    assert (selectors.sport, selectors.ipproto, selectors.uidrange) == ((1000, 2000), 6, (0, 100))
    assert (untracked.protocol, untracked.suppress_prefixlength) == (None, 0)


@pytest.mark.parametrize(
    ("line", "column", "message"),
    [
        ("from 10.0.0.0/8", 9, "a rule needs an action"),
        ("from 10.0.0.0/8 table 1 blackhole priority 3", 33, "a rule has one action"),
        ("fwmark 3 goto 10 priority 20", 18, "a goto rule needs a preference lower than"),
        ("from 10.0.0.0/8 realms 3 table 4 priority 1", 25, "'realms' is not supported"),
        ("from 10.0.0.0/8 to 2001:db8::/32 table 4 priority 1", 28, "cannot mix IPv4 and IPv6"),
        ("sport 3-2 table 4 priority 1", 15, "not a range"),
    ],
)
def test_bad_rule_is_reported_at_its_token(line: str, column: int, message: str) -> None:
    result = load_text(_instance(rules=f"        {line}"))
    (diag,) = [d for d in result.diagnostics if d.severity.value == "error"]
    assert (diag.location.line, diag.location.column) == (11, column), diag.render()
    assert message in diag.message


def test_rule_without_preference_warns_and_gets_keepalived_s() -> None:
    rules = "        from 10.0.0.0/8 table 4\n        to 10.0.0.0/8 table 5"
    result = load_text(_instance(rules=rules))
    assert [m for m in messages(result) if m[0] == "warning"] == [
        ("warning", 11, "rule has no preference: keepalived picks one from 16384 downwards, "
                        "which is probably not what you want"),
        ("warning", 12, "rule has no preference: keepalived picks one from 16384 downwards, "
                        "which is probably not what you want"),
    ]  # fmt: skip
    resolved = resolve_rule_priorities(only_instance(result).virtual_rules)
    assert [r.priority for r in resolved] == [16384, 16383]


def test_static_routes_and_rules_use_the_same_grammar() -> None:
    text = """\
static_routes {
    192.168.100.0/24 via 192.168.200.254 dev eth0
}
static_rules {
    from 192.168.200.16 table 200 priority 1000
}
"""
    result = load_text(text)
    assert result.ok
    assert result.config is not None
    (route,) = result.config.static_routes
    (rule,) = result.config.static_rules
    assert (route.dst, route.dev) == (ip_network("192.168.100.0/24"), "eth0")
    assert (rule.table, rule.priority) == (200, 1000)


def _vmac_instance(name: str, vmac_lines: str, vrid: int = 51) -> str:
    return f"""\
vrrp_instance {name} {{
    interface eth0
    virtual_router_id {vrid}
{vmac_lines}
    virtual_ipaddress {{
        192.168.1.10/24
    }}
}}
"""


def test_use_vmac_forms() -> None:
    result = load_text(_vmac_instance("VI_1", "    use_vmac name vmac1 02:11:22:33:44 group 7 "
                                      "netlink_notify_msg"))  # fmt: skip
    vmac = only_instance(result).use_vmac
    assert vmac is not None
    assert (vmac.ifname, vmac.mac, vmac.group, vmac.netlink_notify_msg) == (
        "vmac1", "02:11:22:33:44", 7, True)  # fmt: skip


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("use_vmac 01:00:5e:00:00:01", "VMAC MAC address 01:00:5e:00:00:01 is multicast - ignored"),
        ("use_vmac 00:00:5e:00:01:33", "may not be an RFC 5798 address - ignored"),
        ("use_vmac 00:zz:5e:00:01:33", "'00:zz:5e:00:01:33' is not a MAC address - ignored"),
        ("use_vmac averyveryverylongname", "too long or invalid characters - ignored"),
        ("vmac_xmit_base", "(VI_1) vmac_xmit_base is only valid with a vmac"),
        ("promote_secondaries\n    use_vmac", "promote_secondaries is automatically set for vmacs"),
        ("use_vmac\n    unicast_peer {\n        192.168.1.2\n    }",
         "(VI_1) unicast with use_vmac requires vmac_xmit_base - setting"),
    ],
)  # fmt: skip
def test_use_vmac_adjustments_are_keepalived_s_warnings(line: str, message: str) -> None:
    result = load_text(_vmac_instance("VI_1", f"    {line}"))
    assert result.ok, [d.render() for d in result.diagnostics]
    found = [m for m in messages(result) if m[0] == "warning"]
    assert any(message in m[2] for m in found), found
    assert found[0][1] == 4, "reported at the keyword's line"


def test_a_vmac_name_used_twice_is_ignored_the_second_time() -> None:
    text = _vmac_instance("VI_1", "    use_vmac vmac1") + _vmac_instance(
        "VI_2", "    use_vmac vmac1", vrid=52
    )
    result = load_text(text)
    assert ("warning", 12, "(VI_2) VRRP instance VI_1 is already using vmac1 - ignoring name") in (
        messages(result)
    )
    assert result.config is not None
    from pykeepalived.vrrp.node_extras import vmac_names

    assert vmac_names(result.config) == {"VI_1": "vmac1", "VI_2": "vrrp.52"}


def test_route_and_rule_interfaces_are_checked_against_the_machine(tmp_path: Path) -> None:
    path = tmp_path / "k.conf"
    path.write_text(
        _instance(
            routes="        10.0.0.0/8 via 192.168.1.1 dev nosuch0\n"
            "        10.1.0.0/16 nexthop via 192.168.1.1 dev nosuch1",
            rules="        from 10.0.0.0/8 iif nosuch2 table 5 priority 9",
        )
        + "static_routes {\n    10.2.0.0/16 dev nosuch3\n}\n"
    )
    result = load_machine(str(path))
    found = [(d.location.line, d.message) for d in result.diagnostics if d.code == "env"]
    for line, name in ((8, "nosuch0"), (9, "nosuch1"), (12, "nosuch2"), (16, "nosuch3")):
        assert (line, f"interface '{name}' does not exist on this machine") in found, found
