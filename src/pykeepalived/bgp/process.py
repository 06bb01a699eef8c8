"""Child processes of the daemon that must not outlive it.

Rules: asyncio glue. A speaker started here gets ``PR_SET_PDEATHSIG`` = SIGKILL, so that when
the daemon dies (even by SIGKILL) the kernel kills the speaker and closes its BGP sessions:
a director whose daemon is gone must not keep announcing a VIP it no longer looks after.
"""

import asyncio
import ctypes
import logging
import os
import signal
from collections.abc import Mapping, Sequence

log = logging.getLogger("pykeepalived.bgp")
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


async def spawn(
    argv: Sequence[str], *, env: Mapping[str, str] | None = None, log_path: str
) -> asyncio.subprocess.Process:
    """Start ``argv`` tied to our life, its output appended to ``log_path``."""
    out = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
    try:
        return await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            preexec_fn=_die_with_parent,  # only prctl between fork and exec: no locks taken
            start_new_session=True,
        )
    finally:
        os.close(out)


async def terminate(proc: asyncio.subprocess.Process, wait_s: float = 5.0) -> int | None:
    """SIGTERM, then SIGKILL after ``wait_s``; returns the exit status."""
    if proc.returncode is not None:
        return proc.returncode
    proc.terminate()
    try:
        async with asyncio.timeout(wait_s):
            return await proc.wait()
    except TimeoutError:
        log.warning("pid %d did not stop within %.1f s: killing it", proc.pid, wait_s)
        proc.kill()
        return await proc.wait()


async def run(argv: Sequence[str], timeout_s: float = 5.0) -> tuple[int, str]:
    """Run a short command; its exit code and combined output."""
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    try:
        async with asyncio.timeout(timeout_s):
            out, _ = await proc.communicate()
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return -1, f"{argv[0]}: no answer within {timeout_s} s"
    assert proc.returncode is not None
    return proc.returncode, out.decode(errors="replace")
