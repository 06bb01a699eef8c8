"""LVS apply benchmark: how long a data plane takes to take 1,000 services x 4 real servers.

Usage: ``.venv/bin/python bench/lvs_apply.py [--services N] [--runs N]`` (root).

nftables part (kernels without IPVS), on the host kernel inside a network namespace this
script creates (random name, removed at the end), through ``NftablesDataPlane`` exactly as
the daemon drives it, for NAT (``inet`` table) and DR (``netdev`` table):

- first apply: render the whole table and load it in one ``nft -f`` transaction;
- one weight change: the map refill that the backend does for weight-only changes
  (``flush map`` + ``add element`` of one service, one transaction), and for comparison the
  full atomic replace of the whole table with that change;
- a no-op apply, ``observe()`` (after our own write: one small read of the generation set;
  from scratch: every named counter read over netlink and parsed), ``counters()``, and
  ``close()``.

Each figure is the median of ``--runs`` runs (best in brackets).
"""

import argparse
import asyncio
import os
import platform
import secrets
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from ipaddress import IPv4Address
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from pykeepalived.kernel.nft_rules import NftEnv, render
from pykeepalived.kernel.nftables import NftablesDataPlane
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

DESTS = 4


def make_table(services: int, method: Method, bump: int = -1) -> Table:
    """``services`` VIPs (10.0.x.y:80), each with 4 real servers in 10.1.0.0/16; service
    ``bump`` has its first real server at weight 2 instead of 1."""
    out = {}
    for i in range(services):
        key = ServiceKey(family=4, protocol="TCP", address=IPv4Address(0x0A000000 + i + 1), port=80)
        dests = {}
        for j in range(DESTS):
            addr = IPv4Address(0x0A010000 + (i * DESTS + j) % 65000 + 2)
            weight = 2 if (i == bump and j == 0) else 1
            d = Destination(key=DestKey(address=addr, port=80), weight=weight, method=method)
            dests[d.key] = d
        out[key] = ServiceEntry(service=Service(key=key, scheduler="wrr"), destinations=dests)
    return out


def ns_run(ns: str, *argv: str) -> None:
    subprocess.run(["ip", "netns", "exec", ns, *argv], check=True, capture_output=True)


async def timed(
    runs: int, setup: Callable[[], Awaitable[None]], body: Callable[[], Awaitable[object]]
) -> list[float]:
    times = []
    for _ in range(runs):
        await setup()
        start = time.perf_counter()
        await body()
        times.append(time.perf_counter() - start)
    return times


def fmt(times: list[float]) -> str:
    return f"{statistics.median(times) * 1000:8.1f} ms  (best {min(times) * 1000:.1f})"


async def bench(ns: str, services: int, runs: int, method: Method) -> list[tuple[str, str]]:
    base = make_table(services, method)
    bumped = make_table(services, method, bump=services // 2)
    rows: list[tuple[str, str]] = []
    backend = NftablesDataPlane(netns=ns, reason="bench")

    async def clean() -> None:
        await backend.close()

    async def first() -> None:
        await backend.apply(plan(base, {}, base), base)

    async def loaded() -> None:
        await backend.close()
        await first()

    async def noop() -> None:
        pass

    def check(kind: str) -> None:
        assert backend.last_apply == kind, (backend.last_apply, kind)

    label = method.name
    routes = {d.address: "eth0" for e in base.values() for d in e.destinations}
    env = NftEnv(routes=routes)
    t = [0.0] * runs
    for n in range(runs):
        start = time.perf_counter()
        render(base, env)
        t[n] = time.perf_counter() - start
    rows.append((f"{label}: render only (pure Python, no nft)", fmt(t)))
    rows.append(
        (
            f"{label}: first apply, {services} x {DESTS} (one nft transaction)",
            fmt(await timed(runs, clean, first)),
        )
    )
    check("replace")
    script_kib = len(render(base, env).script) / 1024
    rows.append((f"{label}: script size", f"{script_kib:8.0f} KiB"))
    ops = plan(bumped, base, bumped)
    assert len(ops) == 1, ops

    async def weight() -> None:
        await backend.apply(ops, bumped)

    async def back() -> None:
        await backend.apply(plan(base, bumped, base), base)

    rows.append(
        (
            f"{label}: one weight change (map refill of one service)",
            fmt(await timed(runs, back, weight)),
        )
    )
    check("elements")

    async def forget_then_back() -> None:
        await back()
        backend._installed = None  # force the full path, for comparison

    rows.append(
        (
            f"{label}: one weight change as a full table replace",
            fmt(await timed(runs, forget_then_back, weight)),
        )
    )
    check("replace")
    rows.append((f"{label}: no-op apply (nothing changed)", fmt(await timed(runs, noop, weight))))
    check("none")
    after_write = await timed(runs, noop, backend.observe)
    rows.append((f"{label}: observe() after our own write (generation check)", fmt(after_write)))
    fresh = [NftablesDataPlane(netns=ns)]  # a new one each run: no memory of any write

    async def new_backend() -> None:
        fresh[0] = NftablesDataPlane(netns=ns)

    async def observe_fresh() -> None:
        await fresh[0].observe()

    from_scratch = await timed(runs, new_backend, observe_fresh)
    rows.append((f"{label}: observe() from scratch (netlink dump + parse)", fmt(from_scratch)))
    rows.append((f"{label}: counters()", fmt(await timed(runs, noop, backend.counters))))
    rows.append(
        (f"{label}: close() (delete our tables)", fmt(await timed(runs, loaded, backend.close)))
    )
    return rows


async def run_all(ns: str, services: int, runs: int) -> None:
    for method in (Method.NAT, Method.DR):
        for name, value in await bench(ns, services, runs, method):
            print(f"{name:62s} {value}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    ns = f"pk{secrets.token_hex(3)}-bench"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        ns_run(ns, "ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth1")
        ns_run(ns, "ip", "link", "set", "eth0", "up")
        ns_run(ns, "ip", "addr", "add", "10.1.0.1/16", "dev", "eth0")
        nft = subprocess.run(["nft", "--version"], capture_output=True, text=True, check=True)
        print(
            f"# LVS apply (nftables): {args.services} services x {DESTS} real servers, "
            f"median of {args.runs} runs"
        )
        print(
            f"# kernel {platform.release()}, {nft.stdout.strip()}, "
            f"Python {platform.python_version()}, {os.cpu_count()} CPUs"
        )
        asyncio.run(run_all(ns, args.services, args.runs))
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)


if __name__ == "__main__":
    main()
