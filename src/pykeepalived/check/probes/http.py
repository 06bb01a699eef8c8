"""HTTP_GET and SSL_GET: each url answers with an accepted status and, if set, the right digest.

Rules: a minimal HTTP/1.0/1.1 client on asyncio streams, one connection per url, the request
shaped like keepalived's (``User-Agent: KeepAliveClient``, Host = virtualhost or ip:port).
Plain HTTP judged on the status alone (no TLS, digest or regex: ``HttpParams.status_only``)
takes the lean, callback-driven path of ``http_lean`` instead, with the same verdicts.
Semantics read from keepalived ``check_http.c``:

* ``status_code`` defaults to 200-299; ranges ``200-299`` allowed, 100..599.
* ``digest`` is the lowercase MD5 hex of the *raw* body bytes after the header block, cut at
  Content-Length when the server sends one (no chunked decoding: keepalived hashes the wire).
* ``regex`` (``regex_no_match``, ``regex_options``, ``regex_min_offset``/``max_offset``):
  searched in the body with Python's ``re`` (PCRE2's common syntax; options caseless,
  multiline, dotall, extended), over the first MiB of the body.
* virtualhost: url's, else the checker's (the daemon folds in the real/virtual server's).
* TLS: no certificate verification unless asked (keepalived verifies only with a CA set);
  SNI only with ``enable_sni`` (``sni_name``, else the virtualhost).

Deviation, on purpose: keepalived checks one url per ``delay_loop``; here one probe walks every
url and fails on the first bad one, so all probes share the one hysteresis.
"""

import asyncio
import functools
import hashlib
import re
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field

from pykeepalived.check.probes.common import (
    ProbeTarget,
    drop,
    guarded,
    open_stream,
)
from pykeepalived.check.result import ProbeResult
from pykeepalived.errors import RemoteProtocolError

HTTP_PROTOCOLS = ("1.0", "1.0C", "1.1")
STATUS_LINE = re.compile(rb"HTTP/\d\.\d\s+(\d{3})")
READ_CHUNK = 64 * 1024
MAX_HEAD = 64 * 1024  # as asyncio's StreamReader limit on the streams path
_MAX_REGEX_BODY = 1024 * 1024  # the regex sees at most this much of the body
_REGEX_OPTIONS = {
    "caseless": re.IGNORECASE, "multiline": re.MULTILINE, "dotall": re.DOTALL,
    "extended": re.VERBOSE,
}  # fmt: skip


def parse_status_codes(text: str) -> tuple[tuple[int, int], ...]:
    """``"200-299 401 503"`` -> ((200, 299), (401, 401), (503, 503)), as keepalived reads it."""
    ranges = []
    for word in text.split():
        low, _, high = word.partition("-")
        ranges.append((int(low), int(high or low)))
    return tuple(ranges)


@dataclass(frozen=True, slots=True, kw_only=True)
class Url:
    """One ``url { }`` block."""

    path: str
    status_code: tuple[tuple[int, int], ...] = ((200, 299),)
    digest: str | None = None
    virtualhost: str | None = None
    regex: str | None = None
    regex_no_match: bool = False
    regex_options: tuple[str, ...] = ()
    regex_min_offset: int = 0
    regex_max_offset: int | None = None

    def __post_init__(self) -> None:
        if not self.path.startswith("/") or any(c in self.path for c in " \r\n"):
            raise ValueError(f"bad url path {self.path!r}")
        for low, high in self.status_code:
            if not 100 <= low <= high <= 599:
                raise ValueError(f"bad status_code range {low}-{high}")
        if self.digest is not None and not re.fullmatch(r"[0-9a-fA-F]{32}", self.digest):
            raise ValueError("digest must be 32 hex digits (MD5)")
        if self.regex is not None:
            self.compiled_regex()  # raises ValueError/re.error early, at config time

    def accepts(self, status: int) -> bool:
        return any(low <= status <= high for low, high in self.status_code)

    def compiled_regex(self) -> re.Pattern[bytes]:
        """Python ``re`` standing in for PCRE2: the common syntax and options only."""
        assert self.regex is not None
        flags = 0
        for option in self.regex_options:
            if option not in _REGEX_OPTIONS:
                raise ValueError(f"regex option {option!r} not supported (have {_REGEX_OPTIONS})")
            flags |= _REGEX_OPTIONS[option]
        return _compile(self.regex.encode(), flags)

    def regex_verdict(self, body: bytes) -> str | None:
        """None when the body passes the regex rule, else why not."""
        match = self.compiled_regex().search(body, self.regex_min_offset)
        if match is not None and self.regex_max_offset is not None:
            match = match if match.start() <= self.regex_max_offset else None
        if (match is None) != self.regex_no_match:
            return "regex matched" if self.regex_no_match else "regex did not match"
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpParams:
    """HTTP_GET / SSL_GET options (``ssl=True`` is SSL_GET)."""

    urls: tuple[Url, ...] = field(default=(Url(path="/"),))
    virtualhost: str | None = None
    http_protocol: str = "1.0"
    ssl: bool = False
    enable_sni: bool = False
    sni_name: str | None = None
    verify: bool = False
    ca_file: str | None = None
    certificate: str | None = None
    key: str | None = None
    # Plain HTTP judged on the status alone: the probe's lean path (derived, not a parameter).
    status_only: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        lean = not self.ssl and all(u.digest is None and u.regex is None for u in self.urls)
        object.__setattr__(self, "status_only", lean)
        if not self.urls:
            raise ValueError("HTTP_GET needs at least one url")
        if self.http_protocol not in HTTP_PROTOCOLS:
            raise ValueError(f"http_protocol must be one of {HTTP_PROTOCOLS}")
        if self.ca_file is not None and not self.verify:
            raise ValueError("ca_file without verify")
        if (self.certificate is None) != (self.key is None):
            raise ValueError("a client certificate needs its key, and the reverse")


async def probe(target: ProbeTarget, params: HttpParams) -> ProbeResult:
    if params.status_only:  # plain HTTP judged on the status alone: the lean path
        from pykeepalived.check.probes import http_lean  # it builds on this module

        return await http_lean.probe(target, params)
    return await guarded(target.connect_timeout_s, _check_all(target, params))


async def _check_all(target: ProbeTarget, params: HttpParams) -> ProbeResult:
    for url in params.urls:
        status = await _check_url(target, params, url)
        if status is not None:
            return ProbeResult(ok=False, reason=f"{status} on {url.path}")
    return ProbeResult(ok=True, reason=f"{len(params.urls)} url(s) ok")


async def _check_url(target: ProbeTarget, params: HttpParams, url: Url) -> str | None:
    """None when the url is healthy, else why not."""
    want_body = url.digest is not None or url.regex is not None
    status, got, body = await fetch(target, params, url, body=want_body, accept=url.accepts)
    if not url.accepts(status):
        return f"status {status}"
    if url.digest is not None and got != url.digest.lower():
        return f"digest {got}"
    return None if url.regex is None else url.regex_verdict(body)


async def fetch(
    target: ProbeTarget,
    params: HttpParams,
    url: Url,
    *,
    body: bool,
    accept: Callable[[int], bool] = lambda status: True,
) -> tuple[int, str | None, bytes]:
    """One GET: the status, then, if ``body`` and ``accept(status)``, the body's MD5 hex and
    its first MiB (else None and b""). Errors propagate; ``probe`` turns them into results."""
    vhost = url.virtualhost or params.virtualhost
    tls = _tls_context(params) if params.ssl else None
    sni = (params.sni_name or vhost) if params.enable_sni else None
    if tls is not None and params.verify:
        sni = sni or vhost or target.connect_ip
    reader, writer = await open_stream(target, tls=tls, server_hostname=sni)
    try:
        writer.write(build_request(target, params, url))
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        status, content_length = parse_head(head)
        if not body or not accept(status):
            return status, None, b""
        md5, kept = await read_body(reader, content_length, keep=url.regex is not None)
        return status, md5, kept
    finally:
        drop(writer)


async def genhash(target: ProbeTarget, params: HttpParams, path: str) -> tuple[int, str]:
    """keepalived's ``genhash``: the status and body digest to put in a ``url`` block."""
    async with asyncio.timeout(target.connect_timeout_s):
        status, md5, _ = await fetch(target, params, Url(path=path), body=True)
    assert md5 is not None
    return status, md5


def build_request(target: ProbeTarget, params: HttpParams, url: Url) -> bytes:
    """keepalived's request: GET, its User-Agent, optional Connection: close, then Host."""
    vhost = url.virtualhost or params.virtualhost
    host = vhost or f"{target.host_for_header}:{target.connect_port}"
    minor = 1 if params.http_protocol == "1.1" else 0
    close = "Connection: close\r\n" if params.http_protocol in ("1.0C", "1.1") else ""
    text = (
        f"GET {url.path} HTTP/1.{minor}\r\nUser-Agent: KeepAliveClient\r\n{close}"
        f"Host: {host}\r\n\r\n"
    )
    return text.encode("ascii")


def parse_head(head: bytes) -> tuple[int, int | None]:
    """Status code and Content-Length (None when absent) from a response header block."""
    match = STATUS_LINE.match(head)
    if match is None:
        raise RemoteProtocolError("bad_status_line", repr(head[:40]))
    content_length = None
    for line in head.split(b"\r\n")[1:]:
        name, sep, value = line.partition(b":")
        if sep and name.strip().lower() == b"content-length":
            try:
                content_length = int(value.strip())
            except ValueError:
                raise RemoteProtocolError("bad_content_length", repr(value)) from None
    return int(match.group(1)), content_length


async def read_body(
    reader: asyncio.StreamReader, content_length: int | None, *, keep: bool
) -> tuple[str, bytes]:
    """MD5 hex of the body up to Content-Length, or to EOF without one (keepalived's rule),
    and, with ``keep``, its first ``_MAX_REGEX_BODY`` bytes for the regex."""
    md5 = hashlib.md5(usedforsecurity=False)
    kept = bytearray()
    left = content_length
    while left is None or left > 0:
        chunk = await reader.read(READ_CHUNK if left is None else min(left, READ_CHUNK))
        if not chunk:
            break
        md5.update(chunk)
        if keep and len(kept) < _MAX_REGEX_BODY:
            kept += chunk[: _MAX_REGEX_BODY - len(kept)]
        if left is not None:
            left -= len(chunk)
    return md5.hexdigest(), bytes(kept)


@functools.lru_cache(maxsize=256)
def _compile(pattern: bytes, flags: int) -> re.Pattern[bytes]:
    return re.compile(pattern, flags)


def _tls_context(params: HttpParams) -> ssl.SSLContext:
    return _cached_tls_context(params.verify, params.ca_file, params.certificate, params.key)


@functools.lru_cache(maxsize=64)
def _cached_tls_context(
    verify: bool, ca_file: str | None, certificate: str | None, key: str | None
) -> ssl.SSLContext:
    """One context per TLS setting: building one per probe would reload the CA store.

    keepalived's ``SSL { ca certificate key }`` block; a file that changes on disk is read
    again only when the daemon rebuilds its checks (reload).
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if verify:
        if ca_file is not None:
            ctx.load_verify_locations(cafile=ca_file)
        else:
            ctx.load_default_certs()
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if certificate is not None:
        ctx.load_cert_chain(certificate, key)
    return ctx
