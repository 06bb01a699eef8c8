"""What the callback-form probes share: the reply batch, and their coroutine form.

Rules: a callback-form probe (``check.spec.Starter``: ``start(done) -> abort``) keeps no timer
and no task. ``soon(loop, exchange)`` has ``exchange.read()`` called at the end of the current
``REPLY_BATCH_S`` slice, together with every exchange queued in that slice, by one timer;
``awaited(start, timeout_s)`` runs a starter as a coroutine bounded like ``guarded``.
"""

import asyncio
import logging
import time
import weakref
from typing import Protocol

from pykeepalived.check.result import ProbeResult
from pykeepalived.check.spec import Done, Starter

log = logging.getLogger(__name__)

REPLY_BATCH_S = 0.002
"""An exchange looks for its reply (or its connection) this long after sending, with every
exchange of the same slice: a near server has answered by then, and one wake-up serves them
all instead of a selector registration and a wake-up each."""


class Attempt:
    """One probe's connection, ended once: by ``_finish`` (``done`` called with the outcome)
    or by ``abort`` (no call). Subclasses set ``_done``/``_began`` and close in ``_close``."""

    __slots__ = ("_began", "_done")

    def __init__(self, done: Done) -> None:
        self._done: Done | None = done
        self._began = time.monotonic()

    def _close(self) -> None:
        raise NotImplementedError

    def _finish(self, ok: bool, reason: str) -> None:
        done, self._done = self._done, None
        self._close()
        if done is not None:
            done(ProbeResult(ok=ok, reason=reason, latency_s=time.monotonic() - self._began))

    def abort(self) -> None:
        self._done = None
        self._close()


class Reads(Protocol):
    def read(self) -> None: ...


_batches: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, list[Reads]]"
_batches = weakref.WeakKeyDictionary()  # a loop closed mid-slice must not be kept alive


def soon(loop: asyncio.AbstractEventLoop, exchange: Reads) -> None:
    """Call ``exchange.read()`` at the end of the current slice (one timer per slice)."""
    batch = _batches.get(loop)
    if batch is None:
        batch = _batches[loop] = []
        loop.call_later(REPLY_BATCH_S, _release, loop)
    batch.append(exchange)


def _release(loop: asyncio.AbstractEventLoop) -> None:
    for exchange in _batches.pop(loop, ()):
        try:
            exchange.read()
        except Exception:  # a bug (in a probe, or in what its done callback ran): the rest
            log.exception("reply batch: an exchange raised")  # of the batch still runs


async def awaited(start: Starter, timeout_s: float) -> ProbeResult:
    """The starter's probe as a coroutine, bounded by ``timeout_s`` as ``guarded`` does;
    cancelled, it aborts the probe (its socket is closed at once)."""
    began = time.monotonic()
    fut: asyncio.Future[ProbeResult] = asyncio.get_running_loop().create_future()
    abort = start(fut.set_result)
    try:
        async with asyncio.timeout(timeout_s):
            return await fut
    except TimeoutError:
        reason = f"timeout after {timeout_s:g}s"
        return ProbeResult(ok=False, reason=reason, latency_s=time.monotonic() - began)
    finally:
        abort()  # a no-op once done
