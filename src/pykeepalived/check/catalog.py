"""keepalived checker type name -> probe, and the one way to turn a checker into a ``Check``.

Rules: no logic of its own; it only binds a probe to its target and params, adds the same
probe in callback form where there is one (plain HTTP_GET, TCP_CHECK: the runner's hot path)
and picks the timeout the runner must enforce (connect_timeout for network probes,
misc_timeout for MISC_CHECK, a short bound for FILE_CHECK's read), so the daemon cannot get
that wrong.
"""

from collections.abc import Awaitable, Callable, Hashable
from functools import partial
from typing import Any

from pykeepalived.check.hysteresis import HysteresisParams, checker_params
from pykeepalived.check.probes import dns, file, http, http_lean, misc, ping, smtp, tcp, udp
from pykeepalived.check.probes.common import ProbeTarget
from pykeepalived.check.result import ProbeResult
from pykeepalived.check.runner import Check, Starter

FILE_READ_TIMEOUT_S = 2.0
"""A tracked file is read in a thread; a hung filesystem fails the check after this."""

PROBES: dict[str, tuple[Callable[..., Awaitable[ProbeResult]], type]] = {
    "HTTP_GET": (http.probe, http.HttpParams),
    "SSL_GET": (http.probe, http.HttpParams),
    "TCP_CHECK": (tcp.probe, tcp.TcpParams),
    "SMTP_CHECK": (smtp.probe, smtp.SmtpParams),
    "DNS_CHECK": (dns.probe, dns.DnsParams),
    "MISC_CHECK": (misc.probe, misc.MiscParams),
    "UDP_CHECK": (udp.probe, udp.UdpParams),
    "PING_CHECK": (ping.probe, ping.PingParams),
    "FILE_CHECK": (file.probe, file.FileParams),
}
"""Checker keyword -> (probe coroutine function, its params type)."""


def make_check(
    key: Hashable,
    kind: str,
    *,
    target: ProbeTarget | None,
    params: Any,
    hysteresis: HysteresisParams,
) -> Check:
    """A runnable ``Check``; ``target`` is None only for MISC_CHECK and FILE_CHECK."""
    probe, params_type = PROBES[kind]
    if not isinstance(params, params_type):
        raise TypeError(f"{kind} takes {params_type.__name__}, not {type(params).__name__}")
    if kind == "SSL_GET" and isinstance(params, http.HttpParams) and not params.ssl:
        raise ValueError("SSL_GET needs HttpParams(ssl=True)")
    if isinstance(params, misc.MiscParams):
        timeout_s = params.misc_timeout_s
    elif kind == "FILE_CHECK":
        timeout_s = FILE_READ_TIMEOUT_S
    elif target is None:
        raise ValueError(f"{kind} needs a target")
    else:
        timeout_s = target.connect_timeout_s
    start: Starter | None = None  # the same probe in callback form, for the hot checkers
    if isinstance(params, http.HttpParams) and params.status_only and target is not None:
        start = http_lean.LeanHttp(target, params)
    elif isinstance(params, tcp.TcpParams) and target is not None:
        start = tcp.LeanTcp(target)
    return Check(key=key, probe=partial(probe, target, params), hysteresis=hysteresis,
                 timeout_s=timeout_s, start=start)  # fmt: skip


__all__ = ["PROBES", "checker_params", "make_check"]
