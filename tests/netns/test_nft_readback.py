"""The nftables backend reads back exactly what it programmed, and touches no other table.

One scratch namespace (random name) with a veth pair so that DR real servers have a route.
"""

import asyncio
import json
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from ipaddress import ip_address

import pytest

from pykeepalived.kernel.nft_observe import objects, parse_counters
from pykeepalived.kernel.nftables import NftablesDataPlane
from pykeepalived.lvs.reconcile import OpKind, plan
from pykeepalived.lvs.table import (
    Destination,
    DestKey,
    Method,
    Service,
    ServiceEntry,
    ServiceKey,
    Table,
)

from .seedlab import run

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(shutil.which("nft") is None, reason="needs nft (apt install nftables)"),
]

FOREIGN = (
    "table inet theirs {\n chain input {\n type filter hook input priority 0;\n counter\n }\n}\n"
)


@pytest.fixture
def netns() -> Iterator[str]:
    name = f"pk{secrets.token_hex(3)}-rt"
    run("ip", "netns", "add", name)
    try:
        ns = ("ip", "netns", "exec", name)
        run(*ns, "ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth1")
        for dev, addr in (("eth0", "10.1.0.1/24"), ("eth1", "10.2.0.1/24")):
            run(*ns, "ip", "link", "set", dev, "up")
            run(*ns, "ip", "addr", "add", addr, "dev", dev)
        run(*ns, "ip", "-6", "addr", "add", "2001:db8::1/64", "dev", "eth0", "nodad")
        run(*ns, "nft", "-f", "-", stdin=FOREIGN)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)


def entry(key: ServiceKey, scheduler: str, *dests: Destination, **attrs: object) -> ServiceEntry:
    service = Service(key=key, scheduler=scheduler, **attrs)  # type: ignore[arg-type]
    return ServiceEntry(service=service, destinations={d.key: d for d in dests})


def dest(addr: str, port: int, weight: int, method: Method = Method.NAT) -> Destination:
    return Destination(
        key=DestKey(address=ip_address(addr), port=port), weight=weight, method=method
    )


def tcp(addr: str, port: int, proto: str = "TCP") -> ServiceKey:
    a = ip_address(addr)
    return ServiceKey(family=a.version, protocol=proto, address=a, port=port)


def complex_table() -> Table:
    fwm = ServiceKey(family=4, fwmark=7)
    entries = [
        entry(tcp("10.0.0.1", 80), "wlc", dest("10.1.0.10", 8080, 3), dest("10.1.0.11", 80, 0)),
        entry(
            tcp("10.0.0.1", 53, "UDP"), "sh", dest("10.1.0.10", 53, 1), flags=frozenset({"sh-port"})
        ),
        entry(fwm, "mh", dest("10.1.0.12", 0, 2), dest("10.1.0.13", 0, 5)),
        entry(tcp("2001:db8::100", 443), "rr", dest("2001:db8::10", 443, 1)),
        entry(
            tcp("10.0.0.2", 80),
            "wrr",
            dest("10.1.0.20", 80, 1, Method.DR),
            dest("10.2.0.21", 80, 2, Method.DR),
        ),
        entry(
            tcp("10.0.0.3", 0, "SCTP"),
            "fo",
            persistence_timeout=300,
            persistence_netmask="255.255.255.0",
        ),
    ]
    return {e.service.key: e for e in entries}


def test_reads_back_what_it_programmed(netns: str) -> None:
    asyncio.run(asyncio.wait_for(_readback(netns), timeout=60))


async def _readback(netns: str) -> None:
    backend = NftablesDataPlane(netns=netns, reason="test")
    desired = complex_table()
    try:
        assert await backend.observe() == {}
        assert await backend.apply(plan(desired, {}, desired), desired) == []
        assert await backend.observe() == desired
        fresh = NftablesDataPlane(netns=netns)  # no memory of what was written: parses it all
        assert await fresh.observe() == desired
        assert fresh.info.notes == backend.info.notes  # a restart logs the same differences
        assert any("wlc is done as wrr" in n for n in backend.info.notes)
        # A weight change is an element update; a new destination is a table replace.
        key = tcp("10.0.0.2", 80)
        edited = dict(desired)
        edited[key] = entry(
            key, "wrr", dest("10.1.0.20", 80, 0, Method.DR), dest("10.2.0.21", 80, 2, Method.DR)
        )
        ops = plan(edited, await backend.observe(), edited)
        assert [op.kind for op in ops] == [OpKind.EDIT_DEST]
        assert await backend.apply(ops, edited) == []
        assert backend.last_apply == "elements"
        assert await backend.observe() == edited
        assert await fresh.observe() == edited
        # A service the backend cannot do is reported, the others stay.
        tun = tcp("10.0.0.9", 80)
        edited[tun] = entry(tun, "rr", dest("10.1.0.30", 80, 1, Method.TUN))
        failures = await backend.apply(plan(edited, await backend.observe(), edited), edited)
        assert backend.last_apply == "replace"
        assert [f.op.service for f in failures] == [tun, tun]
        assert "TUN" in failures[0].error
        edited.pop(tun)
        assert await backend.observe() == edited
        assert await fresh.observe() == edited
        web = tcp("10.0.0.1", 80)
        edited[web] = entry(web, "wlc", dest("10.1.0.10", 8080, 3))
        assert await backend.apply(plan(edited, await backend.observe(), edited), edited) == []
        assert backend.last_apply == "replace"
        assert await backend.observe() == edited
        assert await fresh.observe() == edited
        # Someone replaces our table behind our back: the next observe reads it all again.
        await fresh.apply([], desired)
        assert await backend.observe() == desired
        counters = await backend.counters()
        # The netlink dump and nft's own listing agree.
        listed = [
            json.loads(
                run(
                    "ip",
                    "netns",
                    "exec",
                    netns,
                    "nft",
                    "-j",
                    "list",
                    "counters",
                    "table",
                    f,
                    "pykeepalived",
                )
            )
            for f in ("inet", "netdev")
        ]
        assert parse_counters(objects(listed)) == counters
        assert set(counters) == set(desired)
        assert set(counters[web].destinations) == set(desired[web].destinations)
        # The controller's graceful stop: delete every service, then the port's close().
        ops = plan({}, await backend.observe(), desired)
        assert await backend.apply(ops, {}) == []
        assert "pykeepalived" not in run("ip", "netns", "exec", netns, "nft", "list", "ruleset")
        assert await backend.observe() == {}
    finally:
        await backend.close()
    ruleset = run("ip", "netns", "exec", netns, "nft", "list", "ruleset")
    assert "pykeepalived" not in ruleset
    assert "table inet theirs" in ruleset  # an operator's table is never touched
