"""Sleep until a deadline on time, or until woken.

Why: VRRP's timers are its protocol (a master-down interval late by a few milliseconds is a
takeover late by as much). epoll sleeps whole milliseconds rounded up, and the kernel lets a
poll timeout run 0.1% late (3.6 ms on a VRRPv2 master-down interval; keepalived's timerfd has
no such slack): so wait in asyncio until that much before, again while more than 1 ms is left,
then sleep the rest precisely (blocking, under a millisecond).
"""

import asyncio
import contextlib
import time

from pykeepalived.clock import Clock

EPOLL_GRAIN_S = 0.001
POLL_SLACK = 0.0011  # the kernel's select/poll timer slack: 0.1% of the timeout, and margin


async def sleep_until(clock: Clock, wake: asyncio.Event, deadline: float | None) -> None:
    """Until ``deadline`` (``clock``'s time; None: until woken, or a second) or ``wake``."""
    for _ in range(3):  # the second wait is short, so its slack is tiny
        left = 1.0 if deadline is None else deadline - clock.now()
        if deadline is not None and left <= EPOLL_GRAIN_S:
            if left > 0:
                time.sleep(left)  # noqa: ASYNC251 (sub-millisecond, on purpose)
            return
        early = 0.0 if deadline is None else EPOLL_GRAIN_S + left * POLL_SLACK
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(left - early):
                await wake.wait()
        if wake.is_set() or deadline is None:
            return
