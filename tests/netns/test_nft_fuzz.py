"""Random LVS tables through the nftables backend: nft accepts every script we render, and
a backend with no memory reads back exactly what was programmed (root, one namespace)."""

import asyncio
import os
import shutil
from collections.abc import Iterator
from ipaddress import ip_address

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pykeepalived.kernel.nftables import NftablesDataPlane
from pykeepalived.lvs.reconcile import plan
from pykeepalived.lvs.table import (
    SCHED_FLAGS,
    SCHEDULERS,
    Destination,
    DestKey,
    Method,
    Service,
    ServiceEntry,
    ServiceKey,
    Table,
)

from .test_nft_readback import netns as netns_fixture

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(shutil.which("nft") is None, reason="needs nft (apt install nftables)"),
]
netns = netns_fixture
EXAMPLES = int(os.environ.get("NFT_FUZZ_EXAMPLES", "25"))


@st.composite
def entries(draw: st.DrawFn, n: int) -> ServiceEntry:
    family = draw(st.sampled_from([4, 6]))
    method = draw(st.sampled_from([Method.NAT, Method.DR]))
    if method is Method.NAT and draw(st.booleans()) and n % 3 == 0:
        key = ServiceKey(family=family, fwmark=n + 1)
    else:
        vip = ip_address(f"10.9.{n}.1" if family == 4 else f"2001:db8:9::{n + 1:x}")
        proto = draw(st.sampled_from(["TCP", "UDP", "SCTP"]))
        key = ServiceKey(
            family=family, protocol=proto, address=vip, port=draw(st.integers(0, 65535))
        )
    count = draw(st.integers(0, 4))
    dests = []
    for j in range(count):
        addr = ip_address(f"10.1.0.{10 + j}" if family == 4 else f"2001:db8::{10 + j:x}")
        port = key.port if method is Method.DR else draw(st.integers(0, 65535))
        dests.append(
            Destination(
                key=DestKey(address=addr, port=port), weight=draw(st.integers(0, 9)), method=method
            )
        )
    service = Service(
        key=key,
        scheduler=draw(st.sampled_from(sorted(SCHEDULERS))),
        flags=draw(st.frozensets(st.sampled_from(sorted(SCHED_FLAGS)), max_size=3)),
        persistence_timeout=draw(st.none() | st.integers(0, 2**31 - 1)),
        persistence_netmask=draw(
            st.none()
            | st.sampled_from(
                ["255.255.255.0", "255.255.255.255"] if family == 4 else ["64", "/128"]
            )
        ),
    )
    return ServiceEntry(service=service, destinations={d.key: d for d in dests})


@st.composite
def tables(draw: st.DrawFn) -> Table:
    out = {}
    for n in range(draw(st.integers(1, 4))):
        entry = draw(entries(n))
        out[entry.service.key] = entry
    return out


@pytest.fixture
def backends(netns: str) -> Iterator[tuple[NftablesDataPlane, str]]:
    yield NftablesDataPlane(netns=netns, reason="fuzz"), netns
    asyncio.run(NftablesDataPlane(netns=netns).close())


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(table=tables())
def test_random_tables_load_and_read_back(
    backends: tuple[NftablesDataPlane, str], table: Table
) -> None:
    backend, ns = backends
    asyncio.run(asyncio.wait_for(_round_trip(backend, ns, table), timeout=30))


async def _round_trip(backend: NftablesDataPlane, ns: str, table: Table) -> None:
    failures = await backend.apply(plan(table, await backend.observe(), table), table)
    assert [f"{f.op}: {f.error}" for f in failures] == []  # none of these is refused
    assert await NftablesDataPlane(netns=ns).observe() == table
    assert set(await backend.counters()) == set(table)
