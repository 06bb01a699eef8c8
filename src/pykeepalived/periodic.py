"""A tick every so often until a stop: the loop of the daemon's periodic look-agains."""

import asyncio
import contextlib
from collections.abc import AsyncIterator


async def every(seconds: float, stop: asyncio.Event) -> AsyncIterator[None]:
    """One tick each ``seconds`` (the first after a whole interval), none once ``stop`` is
    set: a stop ends the wait at once, not at the next tick."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), seconds)
        if stop.is_set():
            return
        yield
