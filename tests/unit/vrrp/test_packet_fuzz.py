"""Fuzz: whatever arrives, decoding yields an advert or a VrrpPacketError, never anything else.

``VRRP_FUZZ_EXAMPLES`` is the total number of examples over all the runs below (default 20,000:
13 s of CPU; the acceptance run ``VRRP_FUZZ_EXAMPLES=100000`` took 78 s of CPU, about 1,300
examples per CPU second; wall time on the shared 2-core machine was 1.5-2.5x that). The
examples are spread over 18 parametrized runs because hypothesis slows down per example as one
run grows long. Mutated goldens get their checksum fixed half of the time, or nearly every
mutation would stop at the checksum check.
"""

import os
from ipaddress import IPv4Address, IPv6Address

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from vrrp_golden import GOLDENS, Golden, with_checksum

from pykeepalived.vrrp.ipheader import decode_ipv4
from pykeepalived.vrrp.packet import (
    Advert,
    Family,
    IPAddress,
    Reason,
    VrrpPacketError,
    encode,
    parse,
)
from pykeepalived.vrrp.receive import Expected, decode

IPV4_GOLDENS = [g for g in GOLDENS if g.fields["family"] == 4]
_ANY_VRID = frozenset(range(1, 256))
ANY_EXPECTED = [
    Expected(family=Family.IPV4, version=2, vrids=_ANY_VRID, advert_int_cs=100),
    Expected(family=Family.IPV4, version=3, vrids=_ANY_VRID, advert_int_cs=100),
    Expected(family=Family.IPV6, version=3, vrids=_ANY_VRID, advert_int_cs=100),
]
RUNS = len(GOLDENS) + len(IPV4_GOLDENS) + len(ANY_EXPECTED)
TOTAL = int(os.environ.get("VRRP_FUZZ_EXAMPLES", "20000"))
EACH = settings(max_examples=max(1, -(-TOTAL // RUNS)))  # rounded up: at least TOTAL
ttls = st.one_of(st.none(), st.just(255), st.integers(0, 255))
# (position, value) pairs as raw octets; keep the length (mostly), cut it or add a tail; fix the
# checksum or not. Keeping the length most of the time lets mutations reach the deeper checks.
edits = st.tuples(
    st.binary(max_size=12),
    st.sampled_from(["keep", "keep", "keep", "cut", "tail"]),
    st.integers(0, 120),
    st.booleans(),
)
Edit = tuple[bytes, str, int, bool]


def mutate(data: bytes, edit: Edit, src: IPAddress, dst: IPAddress, skip: int = 0) -> bytes:
    """``data`` with ``edit`` applied; the checksum of the VRRP part (after ``skip``) fixed."""
    pairs, shape, size, fix = edit
    out = bytearray(data)
    for pos, value in zip(pairs[::2], pairs[1::2], strict=False):
        out[pos % len(out)] = value
    if shape == "cut":
        del out[size % len(out) :]
    elif shape == "tail":
        out += bytes(range(size % 41))
    if fix and len(out) > skip:
        return bytes(out[:skip]) + with_checksum(bytes(out[skip:]), src, dst)
    return bytes(out)


def decode_or_refuse(
    message: bytes, expected: Expected, src: IPAddress, dst: IPAddress, ttl: int | None
) -> None:
    """The property itself: an ``Advert`` that survives a re-encode, or the narrow error."""
    try:
        advert = decode(message, expected, src=src, dst=dst, ttl=ttl)
    except VrrpPacketError as err:
        assert err.reason in set(Reason)  # noqa: PT017 -- the property, not an expected raise
        event(f"refused: {err.reason}")  # --hypothesis-show-statistics shows how deep we get
        return
    event("accepted")
    assert isinstance(advert, Advert)
    as_v2 = expected.v3_checksum_as_v2
    again = encode(advert, src=src, dst=dst, v3_checksum_as_v2=as_v2)
    assert parse(again, src=src, dst=dst, v3_checksum_as_v2=as_v2) == advert


@pytest.mark.parametrize("golden", GOLDENS, ids=lambda g: g.name)
@EACH
@given(edit=edits, ttl=ttls, check_addresses=st.booleans(), as_v2=st.booleans())
def test_mutated_goldens(
    golden: Golden,
    edit: Edit,
    ttl: int | None,
    check_addresses: bool,
    as_v2: bool,
) -> None:
    d = golden.datagram
    message = mutate(golden.payload, edit, d.src, d.dst)
    expected = golden.expected(v3_checksum_as_v2=as_v2)
    if not check_addresses:
        expected = golden.expected(addresses=None, v3_checksum_as_v2=as_v2)
    decode_or_refuse(message, expected, d.src, d.dst, ttl)


@pytest.mark.parametrize("golden", IPV4_GOLDENS, ids=lambda g: g.name)
@EACH
@given(edit=edits)
def test_mutated_whole_ipv4_packets(golden: Golden, edit: Edit) -> None:
    d = golden.datagram
    packet = mutate(golden.packet, edit, d.src, d.dst, skip=20)
    try:
        advert = decode_ipv4(packet, golden.expected())
    except VrrpPacketError as err:
        assert err.reason in set(Reason)  # noqa: PT017
        event(f"refused: {err.reason}")
        return
    event("accepted")
    assert advert.vrid == golden.fields["vrid"]


@pytest.mark.parametrize("expected", ANY_EXPECTED, ids=["v2", "v3-ipv4", "v3-ipv6"])
@EACH
@given(message=st.binary(max_size=96), ttl=ttls, fix=st.booleans())
def test_random_bytes(expected: Expected, message: bytes, ttl: int | None, fix: bool) -> None:
    src: IPAddress = IPv4Address("192.168.88.1")
    dst: IPAddress = IPv4Address("224.0.0.18")
    if expected.family is Family.IPV6:
        src, dst = IPv6Address("fe80::1"), IPv6Address("ff02::12")
    if fix:
        message = with_checksum(message, src, dst)
    decode_or_refuse(message, expected, src, dst, ttl)
