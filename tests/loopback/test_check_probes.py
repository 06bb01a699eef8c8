"""Every probe against a real server on 127.0.0.1 (no mocks): verdicts, reasons and timeouts."""

import asyncio
import hashlib
import os
import shutil
import socket
import ssl
import sys
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest
from loopback_servers import (
    LOCAL,
    HttpRoute,
    dns_answer,
    free_tcp_port,
    free_udp_port,
    http_server,
    self_signed,
    server_tls,
    silent,
    smtp,
    stream_server,
    udp_server,
)

from pykeepalived.check.probes import dns, file, http, misc, ping, tcp, udp
from pykeepalived.check.probes.common import SO_MARK, ProbeTarget, make_socket
from pykeepalived.check.probes.smtp import SmtpParams
from pykeepalived.check.probes.smtp import probe as smtp_probe

T = TypeVar("T")
BODY = b"<html>ok</html>"
MD5 = hashlib.md5(BODY).hexdigest()


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


IPV6 = _ipv6_loopback()
needs_openssl = pytest.mark.skipif(
    shutil.which("openssl") is None, reason="the openssl CLI makes the test certificate"
)


def target(port: int, timeout: float = 1.0) -> ProbeTarget:
    return ProbeTarget(connect_ip=LOCAL, connect_port=port, connect_timeout_s=timeout)


# -- TCP_CHECK ------------------------------------------------------------------------------


def test_tcp_up_and_refused() -> None:
    async def go() -> None:
        async with stream_server(silent) as port:
            assert (await tcp.probe(target(port))).ok
        down = await tcp.probe(target(port))
        assert not down.ok
        assert "refused" in down.reason

    run(go())


def test_tcp_bindto_and_bind_port() -> None:
    async def go() -> None:
        seen: list[tuple[str, int]] = []

        async def note(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            del reader
            seen.append(writer.get_extra_info("peername"))

        src = free_tcp_port()
        async with stream_server(note) as port:
            t = ProbeTarget(connect_ip=LOCAL, connect_port=port, bindto="127.0.0.2", bind_port=src)
            assert (await tcp.probe(t)).ok
            await asyncio.sleep(0.05)
        assert seen == [("127.0.0.2", src)]

    run(go())


@pytest.mark.skipif(os.geteuid() != 0, reason="SO_MARK and SO_BINDTODEVICE need root")
def test_fwmark_and_bind_if_are_set() -> None:
    t = ProbeTarget(connect_ip=LOCAL, connect_port=1, fwmark=0x42, bind_if="lo")
    with make_socket(t, socket.SOCK_STREAM) as sock:
        assert sock.getsockopt(socket.SOL_SOCKET, SO_MARK) == 0x42
        device = sock.getsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, 16)
        assert device.rstrip(b"\0") == b"lo"

    async def go() -> None:
        async with stream_server(silent) as port:
            marked = ProbeTarget(connect_ip=LOCAL, connect_port=port, fwmark=0x42, bind_if="lo")
            assert (await tcp.probe(marked)).ok

    run(go())


def test_link_local_needs_bind_if() -> None:
    with pytest.raises(ValueError, match="bind_if"):
        ProbeTarget(connect_ip="fe80::1")
    scoped = ProbeTarget(connect_ip="fe80::1", bind_if="lo", connect_port=80)
    assert scoped.sockaddr() == ("fe80::1", 80, 0, socket.if_nametoindex("lo"))


# -- HTTP_GET / SSL_GET ---------------------------------------------------------------------


def _routes() -> dict[str, HttpRoute]:
    return {
        "/ok": HttpRoute(body=BODY),
        "/nolen": HttpRoute(body=BODY, content_length=False),
        "/503": HttpRoute(status=503),
        "/401": HttpRoute(status=401),
    }


@pytest.mark.parametrize(
    ("url", "ok", "reason"),
    [
        (http.Url(path="/ok"), True, "url(s) ok"),
        (http.Url(path="/ok", digest=MD5), True, "url(s) ok"),
        (http.Url(path="/nolen", digest=MD5.upper()), True, "url(s) ok"),
        (http.Url(path="/ok", digest="0" * 32), False, "digest"),
        (http.Url(path="/503"), False, "status 503 on /503"),
        (http.Url(path="/401", status_code=http.parse_status_codes("200-299 401")), True, ""),
        (http.Url(path="/ok", status_code=((300, 399),)), False, "status 200"),
        (http.Url(path="/ok", regex=r"<html>o."), True, ""),
        (http.Url(path="/ok", regex="OK", regex_options=("caseless",), digest=MD5), True, ""),
        (http.Url(path="/ok", regex="OK"), False, "regex did not match"),
        (http.Url(path="/ok", regex="ok", regex_no_match=True), False, "regex matched"),
        (http.Url(path="/ok", regex="ok", regex_max_offset=3), False, "did not match"),
        (http.Url(path="/ok", regex="html", regex_min_offset=2), True, ""),
    ],
)
def test_http_status_and_digest(url: http.Url, ok: bool, reason: str) -> None:
    async def go() -> None:
        async with http_server(_routes()) as srv:
            result = await http.probe(target(srv.port), http.HttpParams(urls=(url,)))
        assert result.ok is ok
        assert reason in result.reason

    run(go())


def test_http_request_shape_and_multiple_urls() -> None:
    async def go() -> None:
        async with http_server(_routes()) as srv:
            params = http.HttpParams(
                urls=(http.Url(path="/ok"), http.Url(path="/ok", virtualhost="per.url")),
                virtualhost="www.example",
                http_protocol="1.1",
            )
            assert (await http.probe(target(srv.port), params)).ok
            plain = http.HttpParams(urls=(http.Url(path="/ok"), http.Url(path="/503")))
            assert not (await http.probe(target(srv.port), plain)).ok
        first, second, third, _ = srv.heads
        assert first.startswith(b"GET /ok HTTP/1.1\r\nUser-Agent: KeepAliveClient\r\n")
        assert b"Connection: close\r\nHost: www.example\r\n" in first
        assert b"Host: per.url\r\n" in second
        assert b"HTTP/1.0\r\n" in third
        assert f"Host: {LOCAL}:{srv.port}\r\n".encode() in third

    run(go())


@needs_openssl
def test_ssl_get_sni_and_verification(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)

    async def go() -> None:
        async with http_server(_routes(), tls=server_tls(cert, key)) as srv:
            url = (http.Url(path="/ok", digest=MD5),)
            no_verify = http.HttpParams(urls=url, ssl=True)
            assert (await http.probe(target(srv.port), no_verify)).ok
            sni = http.HttpParams(urls=url, ssl=True, enable_sni=True, sni_name="test.local")
            assert (await http.probe(target(srv.port), sni)).ok
            trusted = http.HttpParams(
                urls=url, ssl=True, enable_sni=True, sni_name="test.local", verify=True,
                ca_file=str(cert),
            )  # fmt: skip
            assert (await http.probe(target(srv.port), trusted)).ok
            untrusted = http.HttpParams(urls=url, ssl=True, verify=True, sni_name="test.local")
            bad = await http.probe(target(srv.port), untrusted)
            assert not bad.ok
            assert "tls" in bad.reason
        assert srv.sni[:3] == [None, "test.local", "test.local"]

    run(go())


def test_http_over_ipv6_host_header() -> None:
    async def go() -> None:
        async with http_server(_routes(), host="::1") as srv:
            t = ProbeTarget(connect_ip="::1", connect_port=srv.port, connect_timeout_s=1)
            assert (await http.probe(t, http.HttpParams(urls=(http.Url(path="/ok"),)))).ok
        assert f"Host: [::1]:{srv.port}\r\n".encode() in srv.heads[0]

    if not IPV6:
        pytest.skip("no IPv6 on the loopback interface")
    run(go())


@needs_openssl
def test_ssl_get_client_certificate(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    server = server_tls(cert, key)
    server.verify_mode = ssl.CERT_REQUIRED
    server.load_verify_locations(cafile=cert)  # the same self-signed pair, both ways

    async def go() -> None:
        async with http_server(_routes(), tls=server) as srv:
            url = (http.Url(path="/ok"),)
            anonymous = await http.probe(target(srv.port), http.HttpParams(urls=url, ssl=True))
            with_cert = http.HttpParams(urls=url, ssl=True, certificate=str(cert), key=str(key))
            assert (await http.probe(target(srv.port), with_cert)).ok
        assert not anonymous.ok

    run(go())


def test_http_params_validated() -> None:
    with pytest.raises(ValueError, match="status_code"):
        http.Url(path="/", status_code=((99, 200),))
    with pytest.raises(ValueError, match="digest"):
        http.Url(path="/", digest="abc")
    with pytest.raises(ValueError, match="not supported"):
        http.Url(path="/", regex="x", regex_options=("ucp",))
    with pytest.raises(ValueError, match="http_protocol"):
        http.HttpParams(http_protocol="2")


# -- hangs cost one timeout, and only to their own probe -------------------------------------


def test_silent_peer_costs_one_timeout_and_blocks_nobody() -> None:
    async def go() -> None:
        async with stream_server(silent) as hung, http_server(_routes()) as srv:
            start = time.monotonic()
            slow = asyncio.create_task(
                http.probe(target(hung, timeout=0.5), http.HttpParams(urls=(http.Url(path="/"),)))
            )
            fast = await http.probe(target(srv.port), http.HttpParams(urls=(http.Url(path="/ok"),)))
            fast_elapsed = time.monotonic() - start
            result = await slow
            slow_elapsed = time.monotonic() - start
        assert fast.ok
        assert fast_elapsed < 0.4  # the mute peer holds 0.5 s
        assert not result.ok
        assert "timeout" in result.reason
        assert 0.45 <= slow_elapsed < 1.0

    run(go())


# -- MISC_CHECK -----------------------------------------------------------------------------


def _sh(script: str, timeout: float = 2.0, dynamic: bool = False) -> misc.MiscParams:
    return misc.MiscParams(misc_path=("/bin/sh", "-c", script), misc_timeout_s=timeout,
                           misc_dynamic=dynamic)  # fmt: skip


@pytest.mark.parametrize(
    ("code", "dynamic", "ok", "weight"),
    [(0, False, True, None), (1, False, False, None), (7, False, False, None),
     (0, True, True, None), (1, True, False, None), (2, True, True, 0), (12, True, True, 10),
     (255, True, True, 253)],
)  # fmt: skip
def test_misc_exit_codes(code: int, dynamic: bool, ok: bool, weight: int | None) -> None:
    result = run(misc.probe(None, _sh(f"exit {code}", dynamic=dynamic)))
    assert (result.ok, result.weight) == (ok, weight)


def test_misc_hung_script_killed_with_its_children(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    script = f"sleep 30 & echo $! > {pidfile}; wait"
    start = time.monotonic()
    result = run(misc.probe(None, _sh(script, timeout=0.5)))
    elapsed = time.monotonic() - start
    assert not result.ok
    assert "timeout" in result.reason
    assert 0.45 <= elapsed < 1.5
    child = int(pidfile.read_text())
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:  # the grandchild got SIGKILL with its group
        if not _alive(child):
            break
        time.sleep(0.02)
    else:
        pytest.fail("the script's child survived the timeout")


def _alive(pid: int) -> bool:
    """Running, not a zombie waiting for whoever adopted it to reap it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.skipif(os.geteuid() != 0, reason="switching user needs root")
def test_misc_runs_as_the_configured_user() -> None:
    params = misc.MiscParams(
        misc_path=("/bin/sh", "-c", 'test "$(id -u):$(id -g)" = "65534:65534"'),
        misc_timeout_s=2, user=65534, group=65534,
    )  # fmt: skip
    result = run(misc.probe(None, params))
    assert result.ok, result.reason


def test_misc_missing_program() -> None:
    params = misc.MiscParams(misc_path=("/nonexistent/check",), misc_timeout_s=1)
    result = run(misc.probe(None, params))
    assert not result.ok
    assert "cannot run" in result.reason


# -- SMTP_CHECK -----------------------------------------------------------------------------


@pytest.mark.parametrize(("greeting", "helo", "ok"), [(220, 250, True), (554, 250, False),
                                                      (220, 502, False)])  # fmt: skip
def test_smtp(greeting: int, helo: int, ok: bool) -> None:
    async def go() -> None:
        async with stream_server(smtp(greeting, helo)) as port:
            result = await smtp_probe(target(port), SmtpParams(helo_name="me.example"))
        assert result.ok is ok, result.reason

    run(go())


# -- DNS_CHECK, UDP_CHECK -------------------------------------------------------------------


@pytest.mark.parametrize(("rcode", "ok"), [(0, True), (2, False), (3, False)])
def test_dns(rcode: int, ok: bool) -> None:
    async def go() -> None:
        async with udp_server(dns_answer(rcode)) as port:
            result = await dns.probe(target(port), dns.DnsParams(type="A", name="example.com"))
        assert result.ok is ok, result.reason

    run(go())


def test_dns_encoding_and_unreachable() -> None:
    assert dns.encode_name(".") == b"\0"
    assert dns.encode_name("a.bc.") == b"\x01a\x02bc\0"
    query = dns.encode_query(0x1234, dns.DnsParams())
    assert query[:4] == b"\x12\x34\x01\x00"
    assert query.endswith(b"\0\x00\x06\x00\x01")  # root, SOA, IN
    result = run(dns.probe(target(free_udp_port()), dns.DnsParams()))
    assert not result.ok
    assert "refused" in result.reason


def test_udp_check() -> None:
    data, mask = udp.parse_hex_str("Ab12f 3 x4")
    assert (data, mask) == (bytes.fromhex("ab120f0304"), bytes.fromhex("00000000f0"))

    async def go() -> None:
        async with udp_server(lambda d: b"PONG" + d) as echo, udp_server(lambda d: None) as mute:
            assert (await udp.probe(target(echo), udp.UdpParams(payload=b"x"))).ok
            want = udp.UdpParams(payload=b"x", require_reply=True, reply_data=b"PONG")
            assert (await udp.probe(target(echo), want)).ok
            wrong = udp.UdpParams(payload=b"x", require_reply=True, reply_data=b"PANG")
            assert not (await udp.probe(target(echo), wrong)).ok
            masked = udp.UdpParams(payload=b"x", require_reply=True, reply_data=b"PANG",
                                   reply_mask=b"\0\xff\0\0")  # fmt: skip
            assert (await udp.probe(target(echo), masked)).ok
            silent_ok = await udp.probe(target(mute, 0.3), udp.UdpParams())
            assert silent_ok.ok
            need = udp.UdpParams(require_reply=True)
            assert not (await udp.probe(target(mute, 0.3), need)).ok
        closed = await udp.probe(target(free_udp_port()), udp.UdpParams())
        assert not closed.ok
        assert "refused" in closed.reason

    run(go())


# -- PING_CHECK, FILE_CHECK -----------------------------------------------------------------


def _can_ping() -> bool:
    for kind in (socket.SOCK_DGRAM, socket.SOCK_RAW):
        try:
            socket.socket(socket.AF_INET, kind, socket.IPPROTO_ICMP).close()
            return True
        except PermissionError:
            continue
    return False


@pytest.mark.skipif(not _can_ping(), reason="no ICMP socket allowed (no root, no ping group)")
@pytest.mark.parametrize("address", ["127.0.0.1", "::1"])
def test_ping(address: str) -> None:
    if address == "::1" and not IPV6:
        pytest.skip("no IPv6 on the loopback interface")
    result = run(ping.probe(ProbeTarget(connect_ip=address, connect_timeout_s=1.0)))
    assert result.ok, result.reason


@pytest.mark.skipif(os.geteuid() != 0, reason="raw ICMP sockets need root")
@pytest.mark.parametrize("address", ["127.0.0.1", "::1"])
def test_ping_raw_socket_fallback(monkeypatch: pytest.MonkeyPatch, address: str) -> None:
    """As root without a ping group: the datagram socket is refused, the raw one answers."""
    if address == "::1" and not IPV6:
        pytest.skip("no IPv6 on the loopback interface")
    real = ping.make_socket

    def no_dgram(t: ProbeTarget, kind: socket.SocketKind, proto: int = 0) -> socket.socket:
        if kind == socket.SOCK_DGRAM:
            raise PermissionError("ping_group_range")
        return real(t, kind, proto)

    monkeypatch.setattr(ping, "make_socket", no_dgram)
    result = run(ping.probe(ProbeTarget(connect_ip=address, connect_timeout_s=1.0)))
    assert result.ok, result.reason


def test_ping_packet() -> None:
    packet = ping.echo_request(socket.AF_INET, 1, 2, b"tok")
    assert ping.checksum(packet) == 0
    reply = bytes([0]) + packet[1:]
    assert ping.is_our_reply(socket.AF_INET, False, reply, 2, b"tok")
    assert not ping.is_our_reply(socket.AF_INET, False, packet, 2, b"tok")  # our own request


@pytest.mark.parametrize(
    ("content", "weight", "reverse", "ok", "delta"),
    [(None, 0, False, True, None), ("0\n", 0, False, True, None), ("3", 0, False, False, None),
     ("0", 0, True, False, None), ("5", 0, True, True, None), ("0x10 junk", 2, False, True, 32),
     ("010", 1, False, True, 8), ("-7", 3, True, True, 21), ("abc", 1, False, True, 0),
     ("-2147483648", 1, False, False, None), ("99999999999", 1, False, False, None)],
)  # fmt: skip
def test_file_check(
    tmp_path: Path, content: str | None, weight: int, reverse: bool, ok: bool, delta: int | None
) -> None:
    path = tmp_path / "value"
    if content is not None:
        path.write_text(content)
    result = run(file.probe(None, file.FileParams(file_path=str(path), weight=weight,
                                                  reverse=reverse)))  # fmt: skip
    assert (result.ok, result.weight_delta) == (ok, delta), result.reason


def test_target_validated() -> None:
    with pytest.raises(ValueError, match="does not appear"):
        ProbeTarget(connect_ip="example.com")
    with pytest.raises(ValueError, match="families"):
        ProbeTarget(connect_ip="::1", bindto="127.0.0.1")
    assert sys.version_info >= (3, 11)


def test_genhash_gives_the_digest_to_configure() -> None:
    async def go() -> None:
        async with http_server(_routes()) as srv:
            status, digest = await http.genhash(target(srv.port), http.HttpParams(), "/ok")
            assert (status, digest) == (200, MD5)
            url = http.Url(path="/ok", digest=digest)
            assert (await http.probe(target(srv.port), http.HttpParams(urls=(url,)))).ok

    run(go())
