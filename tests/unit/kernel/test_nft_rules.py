"""nftables rules from an LVS table: pure text, checked without root."""

import asyncio
import os
import re
import struct
import subprocess
import sys
from dataclasses import replace
from ipaddress import ip_address
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pykeepalived.errors import ConfigError, KernelError
from pykeepalived.kernel.backend import choose_backend, ipvs_present
from pykeepalived.kernel.nft_meta import (
    decode_dest,
    decode_service,
    encode_dest,
    encode_service,
    scheduling,
)
from pykeepalived.kernel.nft_netlink import _attr, _counter
from pykeepalived.kernel.nft_rules import NftEnv, delete_script, render, weight_update
from pykeepalived.kernel.nft_sets import Existing, existing, set_identity, set_name
from pykeepalived.kernel.nftables import NftablesDataPlane
from pykeepalived.lvs.reconcile import plan
from pykeepalived.lvs.table import (
    SCHED_FLAGS,
    SCHEDULERS,
    Destination,
    DestKey,
    IPAddress,
    Method,
    Service,
    ServiceEntry,
    ServiceKey,
    Table,
)

VIP = ip_address("192.168.88.100")
WEB = [ip_address("192.168.88.10"), ip_address("192.168.88.11")]
ENV = NftEnv(routes={WEB[0]: "eth1", WEB[1]: "eth1"})


def seed(
    method: Method, scheduler: str = "wrr", weights: tuple[int, ...] = (1, 1), port: int = 80
) -> Table:
    key = ServiceKey(family=4, protocol="TCP", address=VIP, port=port)
    dests = [
        Destination(key=DestKey(address=a, port=port), weight=w, method=method)
        for a, w in zip(WEB, weights, strict=False)
    ]
    entry = ServiceEntry(
        service=Service(key=key, scheduler=scheduler), destinations={d.key: d for d in dests}
    )
    return {key: entry}


def fset(j: int, kind: str = "f", timeout: int = 900, table: Table | None = None) -> str:
    """The name of the dynamic set of real server ``j`` (in sorted order) of the seed."""
    ((key, entry),) = (table or seed(Method.DR)).items()
    return set_name(kind, key, sorted(entry.destinations)[j], timeout)


def slots(script: str, service: int = 0) -> list[str]:
    match = re.search(rf"map s{service}m {{[^{{]*elements = {{ ([^}}]*) }}", script)
    assert match, script
    return re.findall(rf"goto s{service}d(\d+)", match[1])


def test_dr_rule_is_the_hand_checked_form() -> None:
    script = render(seed(Method.DR), ENV).script
    # One lookup per frame addressed to us, whatever the number of services.
    assert "\t\tmeta pkttype host ip daddr . tcp dport vmap @d4tcpi0\n" in script
    assert "elements = { 192.168.88.100 . 80 : goto s0 }" in script
    # Counted, then known flows first, then the hash over the slots for new ones.
    assert (
        "chain s0 {\n"
        '\t\tcounter name "s0"\n'
        f"\t\tip saddr . tcp sport @{fset(0)} goto s0d0\n"
        f"\t\tip saddr . tcp sport @{fset(1)} goto s0d1\n"
        "\t\tjhash ip saddr . tcp sport mod 251 seed 0x706b6c76 vmap @s0m\n"
    ) in script
    assert (
        f'update @{fset(0)} {{ ip saddr . tcp sport }} counter name "s0d0" '
        'fwd ip to 192.168.88.10 device "eth1"'
    ) in script
    assert 'hook ingress device "eth1"' in script
    assert "table netdev pykeepalived {" in script


def test_nat_rr_counts_over_interleaved_slots() -> None:
    script = render(seed(Method.NAT, "rr"), ENV).script
    assert "numgen inc mod 251 vmap @s0m" in script
    assert "dnat ip to 192.168.88.11:80" in script
    assert slots(script)[:4] == ["0", "1", "0", "1"]
    assert "table netdev pykeepalived {" not in script  # no DR: no netdev table


def test_weights_become_slot_counts() -> None:
    got = slots(render(seed(Method.DR, weights=(3, 1)), ENV).script)
    assert len(got) == 251
    assert got.count("0") == 188


def test_weight_zero_gets_no_slot_but_stays_in_the_table() -> None:
    script = render(seed(Method.NAT, weights=(1, 0)), ENV).script
    assert set(slots(script)) == {"0"}
    assert "dnat ip to 192.168.88.11:80" in script
    assert 'counter s0d1w { comment "w=0"; }' in script


def test_script_only_names_our_tables() -> None:
    script = render(seed(Method.DR), ENV).script
    tables = set(re.findall(r"table (\w+) (\w+)", script))
    assert tables == {("inet", "pykeepalived"), ("netdev", "pykeepalived")}
    assert script.startswith(delete_script())


def test_an_empty_table_leaves_no_table_of_ours() -> None:
    assert render({}, ENV).script == delete_script()


def test_a_comment_that_cannot_be_read_back_is_refused() -> None:
    table = seed(Method.NAT)
    entry = next(iter(table.values()))
    spaced = Service(key=entry.service.key, scheduler="rr", persistence_engine="s i p")
    rendered = render({spaced.key: ServiceEntry(service=spaced)}, ENV)
    assert "cannot be read back" in rendered.refused[spaced.key]


def test_unsupported_services_are_refused_with_a_reason() -> None:
    tun = seed(Method.TUN)
    no_route = seed(Method.DR)
    rendered = render({**tun}, NftEnv())
    assert "TUN" in next(iter(rendered.refused.values()))
    rendered = render(no_route, NftEnv())
    assert "no route" in next(iter(rendered.refused.values()))
    assert rendered.programmed == {}


@pytest.mark.parametrize(
    ("scheduler", "done_as"),
    [("wlc", "wrr"), ("lc", "wrr"), ("sed", "wrr"), ("lblc", "dh"), ("ovf", "fo")],
)
def test_connection_count_schedulers_are_named_in_a_note(scheduler: str, done_as: str) -> None:
    rendered = render(seed(Method.NAT, scheduler), ENV)
    assert len(rendered.notes) == 1
    assert f"{scheduler} is done as {done_as}" in rendered.notes[0]
    assert "192.168.88.100:80" in rendered.notes[0]


def test_stateless_schedulers_have_no_note_in_nat() -> None:
    for scheduler in ("rr", "wrr", "sh", "mh", "dh", "fo"):
        assert render(seed(Method.NAT, scheduler), ENV).notes == ()


def test_every_scheduler_has_a_plan_in_both_methods() -> None:
    for scheduler in sorted(SCHEDULERS):
        for method in (Method.NAT, Method.DR):
            how = scheduling(Service(key=next(iter(seed(method))), scheduler=scheduler), method)
            assert how.counter == (method is Method.NAT and how.done_as in ("rr", "wrr"))
            if method is Method.DR:
                assert how.hash_on


def test_dr_never_uses_a_counter() -> None:
    rendered = render(seed(Method.DR, "rr"), ENV)
    assert "numgen" not in rendered.script.replace("typeof numgen", "")
    assert "source address and port" in rendered.notes[0]


def test_fo_gives_every_slot_to_the_highest_weight() -> None:
    assert set(slots(render(seed(Method.NAT, "fo", (1, 5)), ENV).script)) == {"1"}


def test_weight_change_is_an_element_update() -> None:
    old, new = seed(Method.DR, weights=(1, 1)), seed(Method.DR, weights=(1, 0))
    update = weight_update(old, new, ENV)
    assert update is not None
    assert "flush map netdev pykeepalived s0m" in update
    assert "delete counter netdev pykeepalived s0d1w\n" in update
    assert 'add counter netdev pykeepalived s0d1w { comment "w=0"; }' in update
    assert "s0d0w" not in update  # its weight did not change
    assert "goto s0d1" not in update
    assert weight_update(new, new, ENV) == ""


def test_anything_but_weights_needs_a_replace() -> None:
    one = seed(Method.NAT, weights=(1,))
    assert weight_update(seed(Method.NAT), one, ENV) is None
    assert weight_update(seed(Method.NAT), seed(Method.NAT, "sh"), ENV) is None
    assert weight_update(seed(Method.NAT), seed(Method.DR), ENV) is None


addresses = st.ip_addresses()


@given(
    address=addresses,
    port=st.integers(0, 65535),
    scheduler=st.sampled_from(sorted(SCHEDULERS)),
    flags=st.frozensets(st.sampled_from(sorted(SCHED_FLAGS))),
    timeout=st.none() | st.integers(1, 2**31),
    one_packet=st.booleans(),
)
def test_service_comment_round_trips(
    address: IPAddress,
    port: int,
    scheduler: str,
    flags: frozenset[str],
    timeout: int | None,
    one_packet: bool,
) -> None:
    key = ServiceKey(family=address.version, protocol="UDP", address=address, port=port)
    service = Service(
        key=key,
        scheduler=scheduler,
        flags=flags,
        persistence_timeout=timeout,
        one_packet=one_packet,
    )
    assert decode_service(encode_service(service)) == service
    fwm = Service(key=ServiceKey(family=6, fwmark=port + 1), scheduler=scheduler)
    assert decode_service(encode_service(fwm)) == fwm


@given(address=addresses, port=st.integers(0, 65535), weight=st.integers(0, 65535))
def test_dest_comment_round_trips(address: IPAddress, port: int, weight: int) -> None:
    dest = Destination(
        key=DestKey(address=address, port=port),
        weight=weight,
        method=Method.DR,
        upper_threshold=7,
    )
    assert decode_dest(encode_dest(dest), weight) == dest


def test_choose_backend() -> None:
    assert choose_backend(None, ipvs_present=True).name == "ipvs"
    auto = choose_backend("auto", ipvs_present=False)
    assert auto.name == "nftables"
    assert "no IPVS" in auto.reason
    assert (
        choose_backend("nftables", ipvs_present=True).reason
        == "requested (the kernel has IPVS too)"
    )
    with pytest.raises(KernelError, match="no IPVS"):
        choose_backend("ipvs", ipvs_present=False)
    with pytest.raises(ConfigError, match="unknown LVS backend"):
        choose_backend("iptables", ipvs_present=True)


def test_ipvs_probe_agrees_with_proc() -> None:
    # Asking netlink for the family loads ip_vs where it can; then /proc/net/ip_vs exists.
    assert ipvs_present() == Path("/proc/net/ip_vs").exists()


def test_netlink_counter_message_decodes() -> None:
    data = _attr(1, struct.pack(">Q", 1234)) + _attr(2, struct.pack(">Q", 7))
    userdata = bytes([0, 6]) + b"a=1 b\0"
    payload = (
        struct.pack("=BBH", 1, 0, 0)
        + _attr(2, b"s0d1\0")
        + _attr(4 | 0x8000, data)
        + _attr(8, userdata)
    )
    assert _counter("inet", payload) == {
        "family": "inet",
        "name": "s0d1",
        "bytes": 1234,
        "packets": 7,
        "comment": "a=1 b",
    }


def test_a_missing_nft_is_a_clear_failure_not_a_crash() -> None:
    backend = NftablesDataPlane(nft="/nonexistent/nft")
    desired = seed(Method.NAT)
    failures = asyncio.run(backend.apply(plan(desired, {}, desired), desired))
    assert failures
    assert all("/nonexistent/nft: not installed" in f.error for f in failures)


@pytest.mark.parametrize("method", [Method.NAT, Method.DR])
def test_persistence_is_a_source_affinity_set_looked_up_first(method: Method) -> None:
    table = seed(method)
    key, entry = next(iter(table.items()))
    service = replace(entry.service, persistence_timeout=300, persistence_netmask="255.255.255.0")
    script = render({key: replace(entry, service=service)}, ENV).script
    p0, p1 = fset(0, "p", 300, table), fset(1, "p", 300, table)
    assert f"set {p1} {{ comment " in script
    assert "type ipv4_addr; flags dynamic,timeout; timeout 300s;" in script
    assert f"ip saddr & 255.255.255.0 @{p0} goto s0d0" in script
    assert f"update @{p0} {{ ip saddr & 255.255.255.0 }}" in script
    assert script.index(f"@{p1} goto") < script.index("vmap @s0m")
    whole = replace(service, persistence_netmask=None)
    script = render({key: replace(entry, service=whole)}, ENV).script
    assert f"ip saddr @{p0} goto s0d0" in script


def test_set_names_follow_the_real_server_not_its_index() -> None:
    """A set keeps its name when another real server goes (its index shifts), so that a
    replace can keep it; its comment says what it remembers."""
    table = seed(Method.DR)
    ((key, entry),) = table.items()
    _, d1 = sorted(entry.destinations)
    alone = {key: replace(entry, destinations={d1: entry.destinations[d1]})}
    script = render(alone, ENV).script
    assert f"ip saddr . tcp sport @{fset(1)} goto s0d0" in script
    comment = re.search(rf'set {fset(1)} {{ comment "([^"]*)"', script)
    assert comment
    assert set_identity(comment[1]) == ("f", key, d1)
    assert set_identity("w=3") is None
    assert fset(0) != fset(1) != fset(1, "p")


def listing(table: Table) -> Existing:
    """What ``nft -j -t list table`` shows after ``render(table)`` was loaded (by name)."""
    items: list[dict[str, dict[str, object]]] = []
    for family, body in re.findall(
        r"table (\w+) pykeepalived {(.*?)\n}\n", render(table, ENV).script, re.S
    ):
        items.append({"table": {"family": family, "name": "pykeepalived"}})
        for kind, name, rest in re.findall(r"^\t(set|map|chain|counter) (\w+) (.*)$", body, re.M):
            entry: dict[str, object] = {"family": family, "table": "pykeepalived", "name": name}
            if kind == "set" and (comment := re.match(r'{ comment "([^"]*)"', rest)):
                entry["comment"] = comment[1]
            items.append({kind: entry})
    return existing(items, "pykeepalived")


def test_a_replace_keeps_the_remembered_flows_and_drains_a_removed_server() -> None:
    """Issue 8: real server .11 leaves the pool on reload. Its established flows must still
    reach it (sent to .10 they are reset), and no flow set is re-created (a copy would lose
    the flows of the instant between reading and writing): one transaction flushes our
    tables, deletes all but the flow sets, and adds the new table."""
    table = seed(Method.DR)
    ((key, entry),) = table.items()
    d0, d1 = sorted(entry.destinations)
    before = listing(table)
    assert before.names["netdev"]["set"] == (fset(0), fset(1))
    without = {key: replace(entry, destinations={d0: entry.destinations[d0]})}
    script = render(without, ENV, existing=before, draining={key: {d1: "eth1"}}).script
    clear, _, added = script.partition("table inet pykeepalived {")
    # inet holds nothing to keep here (no NAT persistence): deleted whole, then added.
    assert clear.startswith("delete table inet pykeepalived\nflush table netdev pykeepalived\n")
    assert "delete chain netdev pykeepalived s0d1\n" in clear
    assert "delete map netdev pykeepalived s0m\n" in clear
    assert "delete counter netdev pykeepalived s0d1w\n" in clear
    assert "delete table netdev" not in clear
    assert "delete set netdev" not in clear  # both flow sets stay, with their flows
    # The removed server's flows still go to it (after the current servers' flows, before
    # the slots); no slot for it, and a SYN (a new connection on a reused port) is placed.
    pin = f"tcp flags & (syn | ack) != syn ip saddr . tcp sport @{fset(1)} goto s0x0"
    assert pin in added
    assert added.index("goto s0d0\n") < added.index(pin) < added.index("jhash")
    assert (
        f"update @{fset(1)} {{ ip saddr . tcp sport }} counter "
        'fwd ip to 192.168.88.11 device "eth1"' in added
    )
    assert set(slots(added)) == {"0"}
    assert "192.168.88.11" not in render(without, ENV, existing=before).script
    # Back in the pool: the same set, now a regular one (its flows stay where they are).
    again = render(table, ENV, existing=listing(without)).script
    assert f"ip saddr . tcp sport @{fset(1)} goto s0d1" in again
    assert "s0x0" not in again


def test_a_replace_keeps_nat_persistence_and_deletes_what_it_does_not_write() -> None:
    nat = seed(Method.NAT)
    ((key, entry),) = nat.items()
    sticky = {key: replace(entry, service=replace(entry.service, persistence_timeout=60))}
    script = render(sticky, ENV, existing=listing(sticky)).script
    assert script.startswith("flush table inet pykeepalived\n")
    assert "delete set inet pykeepalived generation\n" in script
    assert "delete set inet pykeepalived p" not in script  # the clients stay
    script = render(nat, ENV, existing=listing(seed(Method.DR))).script
    assert "delete table netdev pykeepalived\n" in script
    assert "table netdev pykeepalived {" not in script
    assert render(seed(Method.DR), ENV, existing=Existing()).script.startswith("table inet")


def test_two_directors_render_the_same_table_alike() -> None:
    """Same table, another process with another hash seed (another director): the same
    script, so slots and the jhash seed agree and a failover keeps new-flow placement."""
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "from test_nft_rules import seed, ENV; from pykeepalived.kernel.nft_rules import render;"
        "from pykeepalived.lvs.table import Method;"
        "print(render(seed(Method.DR, 'mh', (3, 2)), ENV).script, end='')"
    )
    here = str(Path(__file__).parent)
    scripts = {
        subprocess.run(
            [sys.executable, "-c", code, here],
            env={**os.environ, "PYTHONHASHSEED": str(n)},
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
        for n in (1, 2)
    }
    assert scripts == {render(seed(Method.DR, "mh", (3, 2)), ENV).script}
