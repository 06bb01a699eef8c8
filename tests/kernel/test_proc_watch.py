"""vrrp_track_process against real processes: /proc reads, the netlink process connector, and
the tracker in both modes (events; polling, which a daemon in a network namespace gets).

Each test starts its own ``sleep 300`` under a unique argv[0] (``<token> 300``, comm still
"sleep") and kills it by PID; the trackers match the command line, so no other process on the
machine can count.
"""

import asyncio
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from tests.kernel.nsutil import Lan, inside

from pykeepalived.clock import MonotonicClock
from pykeepalived.errors import KernelError
from pykeepalived.kernel.proc_watch import (
    Execed,
    Exited,
    ProcConnector,
    ProcEvent,
    read_proc,
    scan_proc,
)
from pykeepalived.vrrp.proc_tracking import ParamMatch, ProcessSpec
from pykeepalived.vrrp.process_tracker import ProcessTracker
from pykeepalived.vrrp.tracking import Kind

pytestmark = pytest.mark.root
SLEEP = shutil.which("sleep") or "/bin/sleep"
DETECT_S = 5.0  # honest for a loaded 2-core machine; measured below 0.1 s (events), ~poll_s


@pytest.fixture
def token() -> str:
    return "pk-tp-" + secrets.token_hex(4)


@pytest.fixture
def procs() -> Iterator[list["subprocess.Popen[bytes]"]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for p in started:
        p.kill()
        p.wait()


def sleeper(procs: list["subprocess.Popen[bytes]"], token: str) -> "subprocess.Popen[bytes]":
    p = subprocess.Popen([token, "300"], executable=SLEEP, stdin=subprocess.DEVNULL)
    procs.append(p)
    return p


def test_proc_reads_see_a_process_and_not_its_zombie(
    procs: list["subprocess.Popen[bytes]"], token: str
) -> None:
    p = sleeper(procs, token)
    deadline = time.monotonic() + DETECT_S
    # mid-exec the new comm shows before the new argv (set when the ELF is loaded)
    while (entry := read_proc(p.pid, cmdline=True)) is None or entry.argv != (token, "300"):
        assert time.monotonic() < deadline, "the exec never showed in /proc"
        time.sleep(0.01)
    assert entry.comm == "sleep"
    assert scan_proc(cmdline=False)[p.pid].argv == ()  # cmdline only read when asked
    p.kill()
    deadline = time.monotonic() + DETECT_S
    while read_proc(p.pid, cmdline=True) is not None:  # a zombie until reaped: not running
        assert time.monotonic() < deadline
        time.sleep(0.01)
    p.wait()
    assert p.pid not in scan_proc(cmdline=True)


async def _until(
    connector: ProcConnector, want: type[ProcEvent], pid: int
) -> tuple[ProcEvent, float]:
    async with asyncio.timeout(DETECT_S):
        while True:
            event = await connector.next_event()
            if isinstance(event, want) and getattr(event, "pid", None) == pid:
                return event, time.monotonic()


def test_connector_reports_exec_and_exit(
    procs: list["subprocess.Popen[bytes]"], token: str
) -> None:
    async def scenario() -> None:
        connector = ProcConnector()
        await connector.open()
        try:
            p = sleeper(procs, token)
            await _until(connector, Execed, p.pid)
            t0 = time.monotonic()
            p.kill()
            _event, t1 = await _until(connector, Exited, p.pid)
            assert t1 - t0 < DETECT_S
        finally:
            connector.close()

    asyncio.run(scenario())


def test_connector_is_refused_in_a_network_namespace(lan: Lan) -> None:
    ns = lan.host("a")

    async def scenario() -> None:
        with inside(ns), pytest.raises(KernelError, match="process events unavailable"):
            await ProcConnector().open()

    asyncio.run(scenario())


@pytest.mark.parametrize("polling", [False, True], ids=["events", "polling"])
def test_tracker_follows_start_and_kill(
    procs: list["subprocess.Popen[bytes]"], token: str, polling: bool
) -> None:
    """quorum 2: up with two sleepers, down when one is killed, up when one is started."""
    spec = ProcessSpec(
        name="slp", path=token, params=("300",), param_match=ParamMatch.EXACT, quorum=2
    )
    seen: list[tuple[bool, float]] = []
    changed = asyncio.Event()

    async def observe(kind: Kind, name: str, value: bool | int | None) -> None:
        assert (kind, name) == (Kind.PROCESS, "slp")
        seen.append((bool(value), time.monotonic()))
        changed.set()

    async def next_status() -> tuple[bool, float]:
        async with asyncio.timeout(DETECT_S):
            await changed.wait()
        changed.clear()
        return seen[-1]

    async def scenario() -> None:
        tracker = ProcessTracker([spec], observe, MonotonicClock(), polling=polling, poll_s=0.2)
        first = sleeper(procs, token)
        assert [c.up for c in tracker.initial()] == [False]
        stop = asyncio.Event()
        task = asyncio.create_task(tracker.run(stop))
        await asyncio.sleep(0.3)  # subscribed (or polling)
        assert tracker.mode == ("polling" if polling else "events")
        t0 = time.monotonic()
        sleeper(procs, token)
        assert (await next_status())[0] is True
        first.kill()
        t1 = time.monotonic()
        up, at = await next_status()
        assert up is False
        print(f"{tracker.mode}: up after {seen[0][1] - t0:.3f} s, down after {at - t1:.3f} s")
        stop.set()
        await task

    asyncio.run(scenario())


def test_a_tracked_fork_waits_fork_delay(token: str) -> None:
    """A tracked Python process forks (the child keeps argv[0]): with quorum 2 the tracker is
    up only once fork_delay has passed after the fork; both die with their session."""
    spec = ProcessSpec(name="py", path=token, full_command=True, quorum=2, fork_delay_s=0.5)
    seen: list[tuple[bool, float]] = []
    changed = asyncio.Event()

    async def observe(kind: Kind, name: str, value: bool | int | None) -> None:
        seen.append((bool(value), time.monotonic()))
        changed.set()

    async def scenario() -> None:
        tracker = ProcessTracker([spec], observe, MonotonicClock())
        tracker.initial()
        stop = asyncio.Event()
        task = asyncio.create_task(tracker.run(stop))
        await asyncio.sleep(0.3)
        code = "import os, sys, time; sys.stdin.readline(); os.fork(); time.sleep(300)"
        p = await asyncio.create_subprocess_exec(
            token, "-c", code, executable=sys.executable, stdin=asyncio.subprocess.PIPE,
            start_new_session=True,
        )  # fmt: skip
        try:
            await asyncio.sleep(0.3)  # exec'd: one process counts
            assert tracker.counts.count("py") == 1
            assert p.stdin is not None
            p.stdin.write(b"go\n")
            await p.stdin.drain()
            t0 = time.monotonic()
            async with asyncio.timeout(DETECT_S):
                await changed.wait()
            assert seen[-1][0] is True
            assert seen[-1][1] - t0 >= 0.5 - 0.05  # the delay, measured from just before
            print(f"up {seen[-1][1] - t0:.3f} s after the fork (fork_delay 0.5)")
        finally:
            os.killpg(p.pid, signal.SIGKILL)
            await p.wait()
            if p.stdin is not None:
                p.stdin.close()
            stop.set()
            await task

    asyncio.run(scenario())
