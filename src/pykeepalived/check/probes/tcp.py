"""TCP_CHECK: the port accepts a connection.

Rules: connect, then close at once (keepalived sends nothing). No options of its own.
"""

from dataclasses import dataclass

from pykeepalived.check.probes.common import ProbeTarget, drop, guarded, open_stream
from pykeepalived.check.result import ProbeResult


@dataclass(frozen=True, slots=True, kw_only=True)
class TcpParams:
    """TCP_CHECK has no options beyond the common ones."""


async def probe(target: ProbeTarget, params: TcpParams | None = None) -> ProbeResult:
    del params
    return await guarded(target.connect_timeout_s, _connect(target))


async def _connect(target: ProbeTarget) -> ProbeResult:
    _, writer = await open_stream(target)
    drop(writer)
    return ProbeResult(ok=True, reason="connected")
