"""The nftables data plane on the host kernel, in the seed topology (namespaces, root).

Acceptance of the nftables backend, for DR and NAT, in IPv4 (the seed's addresses) and IPv6:
200 requests through the VIP are spread by weight within 15 % (the seed's own table, wlc
3:3, then 3:1); the web servers see the client's own address, and in DR answer it directly
(their MACs, not the director's); counters add up; persistence keeps a client on one server;
a drained server keeps its established stream (also across a table replace) and gets no new
connection; a removed server gets none while the other's stream goes on; a UDP service is
spread and answered from the VIP; nothing of ours stays in the ruleset after stop. The
client binds fixed source ports, so the hash-based DR spread is the same on every run.
"""

import asyncio
import json
import shutil
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from ipaddress import ip_address
from pathlib import Path

import pytest

from pykeepalived.config.loader import load
from pykeepalived.kernel.nftables import NftablesDataPlane
from pykeepalived.lvs.desired import compute
from pykeepalived.lvs.reconcile import plan
from pykeepalived.lvs.table import (
    Destination,
    DestKey,
    Method,
    Service,
    ServiceEntry,
    ServiceKey,
    Table,
)

from .seedlab import WEBS, SeedLab, seed_lab

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(shutil.which("nft") is None, reason="needs nft (apt install nftables)"),
]

REQUESTS = 200
SEED_CONF = Path(__file__).parents[2] / "examples" / "seed" / "keepalived-master.conf"


def key_of(lab: SeedLab) -> ServiceKey:
    return ServiceKey(family=lab.family, protocol="TCP", address=ip_address(lab.vip), port=80)


def seed_table(lab: SeedLab, method: Method) -> Table:
    """The seed director's table (wlc, DR, weights 3 and 3), all real servers up; for NAT the
    same with the method changed; for IPv6 the same in the IPv6 addresses."""
    if lab.family == 6:
        return table(lab, method, "wlc", {WEBS[0]: 3, WEBS[1]: 3})
    config = load(str(SEED_CONF)).config
    assert config is not None
    key = key_of(lab)
    entry = compute(config, {}).table[key]
    dests = {k: replace(d, method=method) for k, d in entry.destinations.items()}
    return {key: replace(entry, destinations=dests)}


def table(lab: SeedLab, method: Method, scheduler: str, weights: dict[str, int]) -> Table:
    """``weights`` by web server (named by its IPv4 address, what it answers)."""
    dests = [
        Destination(
            key=DestKey(address=ip_address(lab.addr_of(w)), port=80), weight=n, method=method
        )
        for w, n in weights.items()
    ]
    key = key_of(lab)
    service = Service(key=key, scheduler=scheduler)
    return {key: ServiceEntry(service=service, destinations={d.key: d for d in dests})}


async def program(backend: NftablesDataPlane, desired: Table) -> None:
    ops = plan(desired, await backend.observe(), owned=desired)
    assert await backend.apply(ops, desired) == []
    assert await backend.observe() == desired


def spread(lab: SeedLab, count: int, first_port: int) -> Counter[str]:
    answers = json.loads(lab.client("many", lab.vip, "80", str(count), str(first_port)))
    return Counter(answers)


def assert_within(got: Counter[str], weights: dict[str, int], total: int) -> None:
    wsum = sum(weights.values())
    for addr, w in weights.items():
        want = total * w / wsum
        assert abs(got[addr] - want) <= 0.15 * want, (got, weights)
    assert sum(got.values()) == total, got  # no failed request ("" answers)


def count_answers_by_sender(lab: SeedLab) -> None:
    """In the client namespace: count TCP packets from the VIP by the sender's MAC (not
    ICMPv6: the director's neighbour advertisements for the VIP come from the VIP too)."""
    ip = "ip" if lab.family == 4 else "ip6"
    rules = "".join(
        f"{ip} saddr {lab.vip} meta l4proto tcp ether saddr {lab.mac(node)} "
        f'counter comment "{node}"\n'
        for node in ("dir", "web1", "web2")
    )
    script = (
        "table inet pkprobe {\n chain input {\n type filter hook input priority 0;\n"
        f"{rules} }}\n}}\n"
    )
    lab.in_ns("client", "nft", "-f", "-", stdin=script)


def answers_by_sender(lab: SeedLab) -> dict[str, int]:
    doc = json.loads(lab.in_ns("client", "nft", "-j", "list", "table", "inet", "pkprobe"))
    got = {}
    for item in doc["nftables"]:
        rule = item.get("rule")
        if rule:
            packets = next(e["counter"]["packets"] for e in rule["expr"] if "counter" in e)
            got[rule["comment"]] = packets
    return got


@pytest.fixture(params=["dr4", "nat4", "dr6", "nat6"])
def lab(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SeedLab]:
    mode, family = request.param[:-1], int(request.param[-1])
    with seed_lab(mode, tmp_path, family) as lab:
        yield lab


def test_balances_by_weight_then_drains_without_breaking(lab: SeedLab) -> None:
    asyncio.run(asyncio.wait_for(_scenario(lab), timeout=90))


async def _scenario(lab: SeedLab) -> None:
    method = Method.DR if lab.mode == "dr" else Method.NAT
    backend = NftablesDataPlane(netns=lab.ns("dir"), reason="test")
    try:
        even = {WEBS[0]: 3, WEBS[1]: 3}
        await program(backend, seed_table(lab, method))
        assert any(n.startswith(f"{method.name}: wlc is done as wrr") for n in backend.info.notes)
        count_answers_by_sender(lab)
        got = await asyncio.to_thread(spread, lab, REQUESTS, 20000)
        print(f"{lab.mode}{lab.family} seed (wlc as wrr) 3:3 over {REQUESTS} requests: {dict(got)}")
        assert_within(got, even, REQUESTS)
        senders = answers_by_sender(lab)
        print(f"{lab.mode}{lab.family}: packets from the VIP to the client, by sender: {senders}")
        direct = senders["web1"] + senders["web2"]
        assert (direct > 0, senders["dir"] > 0) == (
            (True, False) if method is Method.DR else (False, True)
        )
        # The servers saw the client itself (no SNAT, no proxy).
        for web in ("web1", "web2"):
            assert {addr for addr, _, _ in lab.seen_by(web)} == {lab.client_addr}
        uneven = {WEBS[0]: 3, WEBS[1]: 1}
        await program(backend, table(lab, method, "wlc", uneven))
        assert backend.last_apply == "elements"
        got = await asyncio.to_thread(spread, lab, REQUESTS, 21000)
        print(f"{lab.mode}{lab.family} wlc as wrr 3:1 over {REQUESTS} requests: {dict(got)}")
        assert_within(got, uneven, REQUESTS)
        await _counters_match(backend, lab, 2 * REQUESTS)
        await _persistence(backend, lab, method)
        await _leave_while_streaming(backend, lab, method)
        await _udp(backend, lab, method)
    finally:
        await backend.close()
    ruleset = lab.in_ns("dir", "nft", "list", "ruleset")
    assert "pykeepalived" not in ruleset


async def _counters_match(backend: NftablesDataPlane, lab: SeedLab, requests: int) -> None:
    counters = (await backend.counters())[key_of(lab)]
    per_dest = {str(k.address): c for k, c in counters.destinations.items()}
    print(f"{lab.mode}{lab.family} counters: {counters.total}")
    assert counters.total.packets_in >= requests * 3  # SYN, request, ACKs, FIN per request
    if lab.mode == "nat":
        assert counters.total.connections == requests
        assert sum(c.connections for c in per_dest.values()) == requests
        assert all(c.packets_out > 0 for c in per_dest.values())
    assert all(c.packets_in > 0 for c in per_dest.values())


async def _leave_while_streaming(backend: NftablesDataPlane, lab: SeedLab, method: Method) -> None:
    """While a 3 s stream runs on one server: (1) that server is drained (weight 0, a map
    refill): NAT keeps the connection by conntrack, DR by its flow sets; (2) after the
    weights are back, the *other* server is removed (a table replace). Each time the stream
    must finish untouched and the server that left must get no new connection."""
    for step, port in (("drain", 22000), ("remove", 23000)):
        stream = lab.client_background("slow", lab.vip, "80", "30")  # 30 lines, 3 s
        assert stream.stdout is not None
        first = await asyncio.to_thread(stream.stdout.readline)
        held = first.strip()
        assert held in WEBS, first
        other = WEBS[1] if held == WEBS[0] else WEBS[0]
        if step == "drain":
            weights, gone, stays, kind = {held: 0, other: 3}, held, other, "elements"
        else:
            weights, gone, stays, kind = {held: 3}, other, held, "replace"
        web_gone = "web1" if gone == WEBS[0] else "web2"
        before = len(lab.seen_by(web_gone))
        await program(backend, table(lab, method, "wlc", weights))
        assert backend.last_apply == kind
        got = await asyncio.to_thread(spread, lab, 50, port)
        assert got == Counter({stays: 50})
        assert len(lab.seen_by(web_gone)) == before  # no new connection to the one that left
        if step == "drain":
            # An unrelated change (another service) replaces the whole table meanwhile: the
            # drained server's flows are carried into the new table (DR) or in conntrack.
            extra = table(lab, method, "rr", {other: 1})
            ((xkey, xentry),) = extra.items()
            xkey = replace(xkey, port=8080)
            extra = {xkey: replace(xentry, service=replace(xentry.service, key=xkey))}
            await program(backend, {**table(lab, method, "wlc", weights), **extra})
            assert backend.last_apply == "replace"
        out, _ = await asyncio.to_thread(stream.communicate, timeout=20)
        summary = json.loads(out.strip().splitlines()[-1])
        print(f"{lab.mode}{lab.family} {step}: on {held}, {gone} left, 50 to {stays}: {summary}")
        assert summary["clean"]
        assert summary["lines"] == 30
        await program(backend, table(lab, method, "wlc", {WEBS[0]: 3, WEBS[1]: 3}))


async def _persistence(backend: NftablesDataPlane, lab: SeedLab, method: Method) -> None:
    """persistence_timeout: every new connection of the client goes to one server, even
    under rr, and its affinity survives a drain of that server (as IPVS's templates do)."""
    ((key, entry),) = table(lab, method, "rr", {WEBS[0]: 1, WEBS[1]: 1}).items()
    sticky = {key: replace(entry, service=replace(entry.service, persistence_timeout=60))}
    await program(backend, sticky)
    got = await asyncio.to_thread(spread, lab, 20, 24000)
    print(f"{lab.mode}{lab.family} persistence, rr 1:1, 20 requests: {dict(got)}")
    assert len(got) == 1
    assert sum(got.values()) == 20
    (sticky_web,) = got
    drained = {w: 0 if w == sticky_web else 1 for w in WEBS}
    ((key, entry),) = table(lab, method, "rr", drained).items()
    await program(backend, {key: replace(entry, service=sticky[key].service)})
    assert backend.last_apply == "elements"
    assert await asyncio.to_thread(spread, lab, 10, 24100) == Counter({sticky_web: 10})
    await program(backend, seed_table(lab, method))  # back to the seed: no persistence


async def _udp(backend: NftablesDataPlane, lab: SeedLab, method: Method) -> None:
    """A UDP service (on port 80 too, told apart by protocol): spread by weight, every
    datagram answered from the VIP (the client takes nothing else)."""
    ((key, entry),) = table(lab, method, "wrr", {WEBS[0]: 1, WEBS[1]: 1}).items()
    ukey = replace(key, protocol="UDP")
    service = replace(entry.service, key=ukey)
    udp = {ukey: ServiceEntry(service=service, destinations=dict(entry.destinations))}
    await program(backend, {**seed_table(lab, method), **udp})
    answers = json.loads(lab.client("udp", lab.vip, "80", str(REQUESTS), "25000"))
    got = Counter(answers)
    print(f"{lab.mode}{lab.family} udp wrr 1:1 over {REQUESTS} datagrams: {dict(got)}")
    assert_within(got, {WEBS[0]: 1, WEBS[1]: 1}, REQUESTS)
