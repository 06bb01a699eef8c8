"""MISC_CHECK: run a program; its exit code is the verdict.

Rules: the program runs in its own session (process group) without blocking the loop; on
``misc_timeout`` the whole group is killed, so a script's children die with it. Exit codes as
keepalived.conf(5) documents them:

* 0: success, configured weight;
* 1: failure;
* 2..255 with ``misc_dynamic``: success, weight = code - 2 (0..253); without it: failure.

Killed by a signal (ours or another's): failure. Deviation: keepalived sends SIGTERM and waits
2 s before SIGKILL; here the timeout sends SIGKILL at once, so a hung script costs exactly one
``misc_timeout`` and no more.
"""

import asyncio
import contextlib
import os
import signal
import time
from dataclasses import dataclass

from pykeepalived.check.probes.common import ProbeTarget
from pykeepalived.check.result import ProbeResult


@dataclass(frozen=True, slots=True, kw_only=True)
class MiscParams:
    """``misc_path`` split into argv; ``misc_timeout_s`` (keepalived: default delay_loop)."""

    misc_path: tuple[str, ...]
    misc_timeout_s: float
    misc_dynamic: bool = False
    user: int | None = None
    group: int | None = None

    def __post_init__(self) -> None:
        if not self.misc_path or not self.misc_path[0]:
            raise ValueError("misc_path is empty")
        if self.misc_timeout_s <= 0:
            raise ValueError("misc_timeout_s must be > 0")


def verdict(code: int, *, misc_dynamic: bool) -> ProbeResult:
    """The keepalived exit-code table; negative codes are signals (asyncio's convention)."""
    if code == 0:
        return ProbeResult(ok=True, reason="exit 0")
    if code < 0:
        return ProbeResult(ok=False, reason=f"killed by signal {-code}")
    if misc_dynamic and 2 <= code <= 255:
        return ProbeResult(ok=True, reason=f"exit {code}", weight=code - 2)
    return ProbeResult(ok=False, reason=f"exit {code}")


async def probe(target: ProbeTarget | None, params: MiscParams) -> ProbeResult:
    """``target`` is unused: MISC_CHECK has none of the connection options."""
    del target
    start = time.monotonic()
    try:
        proc = await asyncio.create_subprocess_exec(
            *params.misc_path,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True,
            user=params.user,
            group=params.group,
        )
    except OSError as exc:
        return ProbeResult(ok=False, reason=f"cannot run: {exc.strerror or exc}")
    try:
        async with asyncio.timeout(params.misc_timeout_s):
            code = await proc.wait()
    except TimeoutError:
        await _kill_group(proc)
        return ProbeResult(
            ok=False,
            reason=f"timeout after {params.misc_timeout_s:g}s",
            latency_s=time.monotonic() - start,
        )
    finally:
        if proc.returncode is None:  # cancelled from outside: leave no orphan behind
            await asyncio.shield(_kill_group(proc))
    result = verdict(code, misc_dynamic=params.misc_dynamic)
    return ProbeResult(
        ok=result.ok,
        reason=result.reason,
        latency_s=time.monotonic() - start,
        weight=result.weight,
    )


async def _kill_group(proc: asyncio.subprocess.Process) -> None:
    """SIGKILL the script's whole process group and reap the leader."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    await proc.wait()
