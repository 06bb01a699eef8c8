"""Health probes: one small, stateless coroutine per keepalived checker type.

Rules: every probe is ``async def probe(target, params) -> ProbeResult``; it keeps no state
between runs, never raises for a sick peer (that is a failed result with a reason), and
bounds itself with ``asyncio.timeout``. The hot ones (plain HTTP_GET, TCP_CHECK) also come
in callback form for the runner (``http_lean.LeanHttp``, ``tcp.LeanTcp``; ``callback``).
Up/down logic, retries and scheduling live in ``check.hysteresis`` and ``check.runner``,
never here.
"""

from pykeepalived.check.probes.common import ProbeTarget

__all__ = ["ProbeTarget"]
