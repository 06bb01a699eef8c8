"""Untrusted replies never crash a probe: they parse, or raise the one narrow error type."""

import socket

from hypothesis import given
from hypothesis import strategies as st

from pykeepalived.check.probes import dns, file, http, ping, udp
from pykeepalived.errors import RemoteProtocolError


@given(st.binary(max_size=300))
def test_http_head_parses_or_refuses(head: bytes) -> None:
    try:
        status, length = http.parse_head(head)
    except RemoteProtocolError:
        return
    assert 0 <= status <= 999
    assert length is None or isinstance(length, int)


def test_http_head_examples() -> None:
    head = b"HTTP/1.1 204 No Content\r\nServer: x\r\ncontent-LENGTH: 12\r\n\r\n"
    assert http.parse_head(head) == (204, 12)
    assert http.parse_head(b"HTTP/1.0 200 OK\r\n\r\n") == (200, None)


@given(st.integers(0, 0xFFFF), st.binary(max_size=64))
def test_dns_reply_judged_or_ignored(query_id: int, data: bytes) -> None:
    verdict = dns.judge_reply(query_id, data)
    assert verdict is None or isinstance(verdict.ok, bool)


@given(st.binary(max_size=100), st.booleans(), st.sampled_from([socket.AF_INET, socket.AF_INET6]))
def test_ping_reply_filter_total(packet: bytes, raw: bool, family: socket.AddressFamily) -> None:
    assert ping.is_our_reply(family, raw, packet, 7, b"token") in (True, False)


@given(st.text(alphabet="0123456789abcdefABCDEFxX \t", max_size=40))
def test_hex_str_data_and_mask_align(text: str) -> None:
    data, mask = udp.parse_hex_str(text)
    assert len(data) == len(mask)


@given(st.text(max_size=40))
def test_strtol_total(text: str) -> None:
    assert isinstance(file.strtol(text), int)


def test_strtol_examples() -> None:
    assert [file.strtol(t) for t in (" 42x", "-0x1F", "017", "+9", "", "x1", "0")] == [
        42, -31, 15, 9, 0, 0, 0,
    ]  # fmt: skip
