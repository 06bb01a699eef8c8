"""What every probe shares: the target, socket set-up (bindto, bind_port, fwmark), the guard.

Rules: no policy. ``guarded`` turns a probe body into a ``ProbeResult``: it applies the one hard
timeout (keepalived's ``connect_timeout``, here over the whole exchange, not per I/O step) and
maps the peer's faults (OSError, TLS errors, ``RemoteProtocolError``) to a failed result.
Local bugs (TypeError, ...) propagate.
"""

import asyncio
import errno
import ipaddress
import os
import socket
import ssl
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from pykeepalived.check.result import ProbeResult
from pykeepalived.errors import RemoteProtocolError

SO_MARK = getattr(socket, "SO_MARK", 36)


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeTarget:
    """Where and how to connect: keepalived's common checker options, names verbatim.

    The daemon fills ``connect_ip``/``connect_port`` from the real server when the checker
    does not set them. ``connect_timeout_s`` bounds the whole probe.
    """

    connect_ip: str
    connect_port: int = 0
    bindto: str | None = None
    bind_port: int | None = None
    bind_if: str | None = None
    fwmark: int | None = None
    connect_timeout_s: float = 5.0
    # Derived once here, not per probe (10,000 probes a second read them).
    _family: socket.AddressFamily = field(init=False, repr=False, compare=False)
    _sockaddr: tuple[str, int] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        version = ipaddress.ip_address(self.connect_ip).version  # ValueError on a name
        family = socket.AF_INET6 if version == 6 else socket.AF_INET
        object.__setattr__(self, "_family", family)
        scoped = family == socket.AF_INET6 and self.bind_if
        object.__setattr__(
            self, "_sockaddr", None if scoped else (self.connect_ip, self.connect_port)
        )
        if self.bindto is not None:
            bind_family = ipaddress.ip_address(self.bindto).version
            if bind_family != ipaddress.ip_address(self.connect_ip).version:
                raise ValueError("bindto and connect_ip are of different address families")
        if not 0 <= self.connect_port <= 65535:
            raise ValueError("connect_port out of range")
        if self.bind_port is not None and not 0 <= self.bind_port <= 65535:
            raise ValueError("bind_port out of range")
        if self.fwmark is not None and not 0 <= self.fwmark < 2**32:
            raise ValueError("fwmark out of range")
        if self.connect_timeout_s <= 0:
            raise ValueError("connect_timeout_s must be > 0")
        address = ipaddress.ip_address(self.connect_ip)
        if address.version == 6 and address.is_link_local and not self.bind_if:
            raise ValueError("a link-local connect_ip needs bind_if (keepalived: the same)")

    def sockaddr(self, port: int | None = None) -> tuple[str, int] | tuple[str, int, int, int]:
        """The address tuple for connect(); IPv6 gets bind_if's scope (link-local needs it)."""
        if port is None and self._sockaddr is not None:
            return self._sockaddr
        port = self.connect_port if port is None else port
        if self.family == socket.AF_INET6 and self.bind_if:
            return (self.connect_ip, port, 0, socket.if_nametoindex(self.bind_if))
        return (self.connect_ip, port)

    @property
    def family(self) -> socket.AddressFamily:
        return self._family

    @property
    def host_for_header(self) -> str:
        """The address as it appears in a Host header (IPv6 in brackets, RFC 2732)."""
        return f"[{self.connect_ip}]" if self.family == socket.AF_INET6 else self.connect_ip


def make_socket(target: ProbeTarget, kind: socket.SocketKind, proto: int = 0) -> socket.socket:
    """A non-blocking socket with the target's fwmark and source binding applied."""
    sock = socket.socket(target.family, kind | socket.SOCK_NONBLOCK, proto)  # one syscall
    try:
        if target.fwmark is not None:
            sock.setsockopt(socket.SOL_SOCKET, SO_MARK, target.fwmark)
        if target.bind_if is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, target.bind_if.encode())
        if target.bindto is not None or target.bind_port is not None:
            if target.bind_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((target.bindto or "", target.bind_port or 0))
    except BaseException:
        sock.close()
        raise
    return sock


async def open_stream(
    target: ProbeTarget,
    *,
    tls: ssl.SSLContext | None = None,
    server_hostname: str | None = None,
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Connect a TCP stream (optionally TLS) from the target's source options."""
    loop = asyncio.get_running_loop()
    sock = make_socket(target, socket.SOCK_STREAM)
    try:
        await loop.sock_connect(sock, target.sockaddr())
        if tls is None:
            return await asyncio.open_connection(sock=sock)
        return await asyncio.open_connection(
            sock=sock, ssl=tls, server_hostname=server_hostname or ""
        )
    except BaseException:
        sock.close()
        raise


def drop(writer: asyncio.StreamWriter) -> None:
    """Close at once: a health check owes the peer no graceful shutdown (TLS close_notify)."""
    writer.transport.abort()


def describe_os_error(exc: OSError) -> str:
    """A short, stable reason: ``connection refused`` rather than a whole errno sentence."""
    if exc.errno is not None and exc.errno in errno.errorcode:
        return os.strerror(exc.errno).lower()  # asyncio's strerror is a whole sentence
    return str(exc) or type(exc).__name__


async def guarded(timeout_s: float, body: Coroutine[Any, Any, ProbeResult]) -> ProbeResult:
    """Run a probe body under the hard timeout; a sick peer becomes a failed result."""
    start = time.monotonic()
    try:
        async with asyncio.timeout(timeout_s):
            result = await body
    except TimeoutError:
        result = ProbeResult(ok=False, reason=f"timeout after {timeout_s:g}s")
    except ssl.SSLError as exc:  # before OSError, its base; includes certificate errors
        result = ProbeResult(ok=False, reason=f"tls: {exc.reason or exc}")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        result = ProbeResult(ok=False, reason="connection closed early or oversized reply")
    except OSError as exc:
        result = ProbeResult(ok=False, reason=describe_os_error(exc))
    except RemoteProtocolError as exc:
        result = ProbeResult(ok=False, reason=str(exc))
    return ProbeResult(
        ok=result.ok,
        reason=result.reason,
        latency_s=time.monotonic() - start,
        weight=result.weight,
        weight_delta=result.weight_delta,
    )
