"""The IPVS backend on the real kernel (in the VM): round trip, minimal changes, errors, sync.

Marked ``ipvs``: on a host without IPVS these run inside the QEMU VM (tests/vm/ipvs_pytest.py).
Every scenario works in namespaces of its own (IPVS tables are per namespace).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine, Iterator
from ipaddress import ip_address
from typing import Any, TypeVar

import pytest

from pykeepalived.kernel.dataplane import OpFailure
from pykeepalived.kernel.ipvs import IpvsDataPlane
from pykeepalived.kernel.ipvs_msg import SyncDaemon, Timeouts
from pykeepalived.lvs.reconcile import Op, OpKind, plan, teardown
from pykeepalived.lvs.table import (
    SCHEDULERS,
    Destination,
    DestKey,
    Method,
    Service,
    ServiceEntry,
    ServiceKey,
    Table,
)

from .ipvs_lab import listing, namespace, rules, sh

pytestmark = [pytest.mark.ipvs, pytest.mark.root]

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(asyncio.wait_for(coro, timeout=60))


@pytest.fixture
def netns() -> Iterator[str]:
    with namespace() as name:
        yield name


def key(spec: str, family: int = 4) -> ServiceKey:
    """``TCP 192.0.2.1:80``, ``UDP [2001:db8::1]:53`` or ``FWM 7``."""
    proto, rest = spec.split(" ", 1)
    if proto == "FWM":
        return ServiceKey(family=family, fwmark=int(rest))
    host, port = rest.rsplit(":", 1)
    address = ip_address(host.strip("[]"))
    return ServiceKey(family=address.version, protocol=proto, address=address, port=int(port))


def dest(
    host: str, port: int, weight: int = 1, method: Method = Method.NAT, **kw: Any
) -> Destination:
    return Destination(
        key=DestKey(address=ip_address(host), port=port), weight=weight, method=method, **kw
    )


def entry(
    spec: str, scheduler: str, *dests: Destination, family: int = 4, **kw: Any
) -> ServiceEntry:
    service = Service(key=key(spec, family), scheduler=scheduler, **kw)
    return ServiceEntry(service=service, destinations={d.key: d for d in dests})


def kernel_has(module: str) -> bool:
    folder = f"/lib/modules/{os.uname().release}/kernel/net/netfilter/ipvs"
    return any(os.path.exists(f"{folder}/{module}.ko{ext}") for ext in ("", ".xz", ".zst"))


AVAILABLE = frozenset(s for s in SCHEDULERS if kernel_has(f"ip_vs_{s}"))


def rich_table() -> Table:
    """Every scheduler, flags, persistence, NAT/DR/TUN (ipip, gue, gre; csum), thresholds,
    TCP/UDP/SCTP, IPv6 and fwmark services (IPv4 and IPv6)."""
    entries = [
        entry(
            "TCP 192.0.2.1:80",
            "wlc",
            dest("10.0.0.1", 80, 3, Method.DR),
            dest("10.0.0.2", 80, 3, Method.DR),
        ),
        entry("UDP 192.0.2.1:53", "rr", dest("10.0.0.1", 5353, 1), one_packet=True),
        entry(
            "UDP 192.0.2.1:5060",
            "rr",
            dest("10.0.0.1", 5060, 1),
            persistence_timeout=30,
            persistence_engine="sip",
        ),
        entry(
            "SCTP 192.0.2.1:3868",
            "lc",
            dest("10.0.0.3", 3868, 2, upper_threshold=100, lower_threshold=10),
        ),
        entry(
            "TCP [2001:db8::1]:443",
            "sh",
            dest("2001:db8::10", 443, 1),
            dest("2001:db8::11", 443, 0),
            flags=frozenset({"sh-port", "sh-fallback"}),
            persistence_timeout=600,
            persistence_netmask="64",
        ),
        entry(
            "FWM 7",
            "wrr",
            dest("10.0.0.4", 0, 2, Method.DR),
            persistence_timeout=300,
            persistence_netmask="255.255.255.0",
        ),
        entry(
            "FWM 8",
            "mh",
            dest("2001:db8::12", 0, 1, Method.DR),
            family=6,
            flags=frozenset({"mh-port"}),
        ),
        entry(
            "TCP 192.0.2.2:8080",
            "mh",
            dest(
                "10.0.0.5",
                8080,
                1,
                Method.TUN,
                tunnel_type="gue",
                tunnel_port=6080,
                tunnel_csum="csum",
            ),
            dest("10.0.0.6", 8080, 1, Method.TUN, tunnel_type="gre", tunnel_csum="remcsum"),
            dest("10.0.0.7", 8080, 1, Method.TUN),
            flags=frozenset({"mh-fallback"}),
        ),
    ]
    others = sorted(AVAILABLE - {"wlc", "rr", "lc", "sh", "wrr", "mh"})
    for n, sched in enumerate(others):
        flags = frozenset({"flag-1", "flag-3"}) if n % 2 else frozenset()
        entries.append(
            entry(f"TCP 192.0.2.3:{1000 + n}", sched, dest("10.0.1.1", 80, n + 1), flags=flags)
        )
    return {e.service.key: e for e in entries}


FOREIGN = "-A -t 198.51.100.9:80 -s rr"
FOREIGN_DEST = "-a -t 198.51.100.9:80 -r 10.9.9.9:80 -m -w 1"


def ours(table: Table, desired: Table) -> dict[ServiceKey, ServiceEntry]:
    return {k: v for k, v in table.items() if k in desired}


def test_round_trip_idempotence_foreign_untouched_and_teardown(netns: str) -> None:
    sh("ipvsadm", "-A", "-t", "198.51.100.9:80", "-s", "rr", netns=netns)
    sh("ipvsadm", "-a", "-t", "198.51.100.9:80", "-r", "10.9.9.9:80", "-m", netns=netns)
    desired = rich_table()

    async def scenario() -> None:
        backend = IpvsDataPlane(netns=netns)
        try:
            ops = plan(desired, await backend.observe(), owned=())
            assert len(ops) == len(desired) + sum(len(e.destinations) for e in desired.values())
            assert await backend.apply(ops, desired) == []
            # Concurrent reads (the counters poll beside a reconcile) are serialized, no EBUSY.
            observed, counters, _ = await asyncio.gather(
                backend.observe(), backend.counters(), backend.sync_daemons()
            )
            assert ours(observed, desired) == desired  # round trip, value for value
            assert set(observed) - set(desired) == {key("TCP 198.51.100.9:80")}
            assert plan(desired, observed, owned=desired) == []  # idempotent on the kernel
            assert set(counters) == set(observed)
            assert set(counters[key("TCP 192.0.2.1:80")].destinations) == set(
                desired[key("TCP 192.0.2.1:80")].destinations
            )
            assert await backend.apply(teardown(desired, observed), {}) == []
            assert set(await backend.observe()) == {key("TCP 198.51.100.9:80")}
        finally:
            await backend.close()

    run(scenario())
    assert rules(netns) == sorted([FOREIGN, FOREIGN_DEST])


def test_minimal_changes_and_errors(netns: str) -> None:
    web = key("TCP 192.0.2.1:80")
    base = {
        web: entry(
            "TCP 192.0.2.1:80",
            "wlc",
            dest("10.0.0.1", 80, 3, Method.DR),
            dest("10.0.0.2", 80, 3, Method.DR),
        )
    }
    rs1 = DestKey(address=ip_address("10.0.0.1"), port=80)

    def with_dests(*dests: Destination, **service: Any) -> Table:
        old = base[web].service
        svc = Service(
            key=web,
            scheduler=service.get("scheduler", old.scheduler),
            **{k: v for k, v in service.items() if k != "scheduler"},
        )
        return {web: ServiceEntry(service=svc, destinations={d.key: d for d in dests})}

    async def step(backend: IpvsDataPlane, desired: Table, kinds: list[OpKind]) -> None:
        ops = plan(desired, await backend.observe(), owned=desired)
        assert [op.kind for op in ops] == kinds, ops
        assert await backend.apply(ops, desired) == []
        assert ours(await backend.observe(), desired) == desired

    async def scenario() -> None:
        backend = IpvsDataPlane(netns=netns)
        try:
            await step(backend, base, [OpKind.ADD_SERVICE, OpKind.ADD_DEST, OpKind.ADD_DEST])
            # A weight change is one operation, an edit in place (IPVS_CMD_SET_DEST).
            heavier = with_dests(
                dest("10.0.0.1", 80, 5, Method.DR), dest("10.0.0.2", 80, 3, Method.DR)
            )
            await step(backend, heavier, [OpKind.EDIT_DEST])
            assert "-r 10.0.0.1:80 -g -w 5" in " ".join(rules(netns))
            # Real server removal, then re-add.
            await step(backend, with_dests(dest("10.0.0.2", 80, 3, Method.DR)), [OpKind.DEL_DEST])
            await step(backend, heavier, [OpKind.ADD_DEST])
            # Service edit in place: scheduler and persistence (IPVS_CMD_SET_SERVICE).
            sticky = with_dests(
                *heavier[web].destinations.values(), scheduler="rr", persistence_timeout=120
            )
            await step(backend, sticky, [OpKind.EDIT_SERVICE])
            assert "TCP  192.0.2.1:80 rr persistent 120" in listing(netns)
            # Failures are reported per operation, the others still go through.
            ghost = key("TCP 192.0.2.99:80")
            ops = [
                Op(kind=OpKind.ADD_DEST, service=ghost, dest=rs1, dest_attrs=dest("10.0.0.1", 80)),
                Op(kind=OpKind.ADD_SERVICE, service=web, service_attrs=sticky[web].service),
                Op(
                    kind=OpKind.DEL_DEST,
                    service=web,
                    dest=DestKey(address=ip_address("10.0.0.77"), port=80),
                ),
                Op(
                    kind=OpKind.EDIT_DEST,
                    service=web,
                    dest=rs1,
                    dest_attrs=dest("10.0.0.1", 80, 9, Method.DR),
                ),
            ]
            failures = await backend.apply(ops, sticky)
            assert [f.op for f in failures] == ops[:3]
            errors = [f.error for f in failures]
            assert "TCP 192.0.2.99:80" in errors[0]
            assert "not in the kernel's table" in errors[0]
            assert "already in the kernel's table" in errors[1]
            assert "EEXIST" in errors[1]
            assert "10.0.0.77:80" in errors[2]
            assert "real server is not in" in errors[2]
            assert "-r 10.0.0.1:80 -g -w 9" in " ".join(rules(netns))
            # A scheduler this kernel lacks (twos before Linux 6.2): said so, by name.
            missing = sorted(SCHEDULERS - AVAILABLE)
            if missing:
                odd_entry = entry("TCP 192.0.2.98:80", missing[0], dest("10.0.0.1", 80))
                odd = {odd_entry.service.key: odd_entry}
                failures = await backend.apply(plan(odd, {}, ()), odd)
                assert [f.op.kind for f in failures] == [OpKind.ADD_SERVICE, OpKind.ADD_DEST]
                assert f"scheduler {missing[0]!r}" in failures[0].error
                assert f"no kernel module ip_vs_{missing[0]}" in failures[0].error
        finally:
            await backend.close()

    run(scenario())
    # A namespace whose lo is down has no local table: IPVS takes no real server there.
    sh("ip", "netns", "add", f"{netns}-down")

    async def lo_down() -> list[OpFailure]:
        backend = IpvsDataPlane(netns=f"{netns}-down")
        try:
            return await backend.apply(plan(base, {}, ()), base)
        finally:
            await backend.close()

    try:
        failures = run(lo_down())
        assert [f.op.kind for f in failures] == [OpKind.ADD_DEST, OpKind.ADD_DEST]
        assert "not unicast from this network namespace" in failures[0].error
    finally:
        sh("ip", "netns", "del", f"{netns}-down", check=False)


def test_sync_daemons_and_timeouts(netns: str) -> None:
    sh("ip", "link", "add", "sync0", "type", "dummy", netns=netns)
    sh("ip", "link", "set", "sync0", "up", "multicast", "on", netns=netns)
    sh("ip", "addr", "add", "10.5.0.1/24", "dev", "sync0", netns=netns)
    master = SyncDaemon(
        state="master",
        interface="sync0",
        syncid=18,
        sync_maxlen=1400,
        group=ip_address("224.0.0.81"),
        port=8848,
        ttl=2,
    )
    backup = SyncDaemon(state="backup", interface="sync0", syncid=18)

    async def scenario() -> None:
        backend = IpvsDataPlane(netns=netns)
        try:
            assert await backend.sync_daemons() == []
            await backend.start_sync_daemon(master)
            await backend.start_sync_daemon(backup)
            daemons = {d.state: d for d in await backend.sync_daemons()}
            assert daemons["master"] == master
            assert (daemons["backup"].interface, daemons["backup"].syncid) == ("sync0", 18)
            text = sh("ipvsadm", "-L", "--daemon", netns=netns)
            assert "master sync daemon (mcast=sync0, syncid=18" in text
            assert "backup sync daemon (mcast=sync0, syncid=18" in text
            await backend.stop_sync_daemon("master")
            await backend.stop_sync_daemon("backup")
            assert await backend.sync_daemons() == []
            await backend.set_timeouts(Timeouts(tcp=900, tcpfin=30, udp=60))
            assert await backend.timeouts() == Timeouts(tcp=900, tcpfin=30, udp=60)
            assert "Timeout (tcp tcpfin udp): 900 30 60" in sh(
                "ipvsadm", "-L", "--timeout", netns=netns
            )
        finally:
            await backend.close()

    run(scenario())
