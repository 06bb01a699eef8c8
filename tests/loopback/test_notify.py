"""Notify scripts run in the background, with a timeout, and never raise into the caller."""

import asyncio
import os
import stat
import time
from pathlib import Path

import pytest

from pykeepalived.notify import NotifyFifo, ScriptRunner, ScriptSpec, fifo_line, insecure_reason


def script(path: Path, body: str, mode: int = 0o755) -> Path:
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(mode)
    return path


def test_script_gets_keepalived_arguments(tmp_path: Path) -> None:
    out = tmp_path / "out"
    notify = script(tmp_path / "notify.sh", f'echo "$@" > {out}')

    async def go() -> int | None:
        runner = ScriptRunner()
        return await runner.run(
            ScriptSpec(command=str(notify)), "INSTANCE", "VI_1", "MASTER", "100"
        )

    assert asyncio.run(go()) == 0
    assert out.read_text().strip() == "INSTANCE VI_1 MASTER 100"


def test_quoted_command_line_is_split_like_a_shell_without_a_shell(tmp_path: Path) -> None:
    out = tmp_path / "out"
    notify = script(tmp_path / "n.sh", f'echo "$1|$2" > {out}')

    async def go() -> None:
        await ScriptRunner().run(ScriptSpec(command=f"{notify} 'a b' $HOME"))

    asyncio.run(go())
    assert out.read_text().strip() == "a b|$HOME"


def test_hung_stop_script_is_killed_at_its_timeout_without_stalling_the_loop(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A script run for a STOP gets keepalived's one second (here 0.5 s), then SIGKILL to its
    process group: the shell and its sleep both go."""
    pids = tmp_path / "pids"
    hung = script(tmp_path / "hung.sh", f"echo $$ > {pids}; sleep 30")

    async def go() -> tuple[int | None, float, int]:
        runner = ScriptRunner()
        ticks = 0
        start = time.monotonic()
        task = runner.run(ScriptSpec(command=str(hung)), why="notify_stop", timeout_s=0.5)
        while not task.done():
            await asyncio.sleep(0.05)
            ticks += 1
        return task.result(), time.monotonic() - start, ticks

    code, elapsed, ticks = asyncio.run(go())
    assert code is None
    assert 0.4 < elapsed < 3.0
    assert ticks >= 5  # the loop kept running meanwhile
    assert f"script {hung} (notify_stop) timed out after 0.5 s; killed" in caplog.text
    assert not group_members(int(pids.read_text()))


def group_members(pgid: int) -> list[int]:
    """Processes of process group ``pgid`` still alive (zombies do not count)."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat_line = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = stat_line.rsplit(")", 1)[1].split()
            if fields[0] != "Z" and int(fields[2]) == pgid:
                out.append(int(entry))
    return out


def test_notify_script_runs_freely_and_is_terminated_at_stop(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """keepalived sets no timer on a notify script: a slow one is logged, not killed; stop()
    ends it (SIGTERM to the group), and the stop takes no longer than the grace time."""
    pids = tmp_path / "pids"
    hung = script(tmp_path / "hung.sh", f"echo $$ > {pids}; trap '' TERM; sleep 30")

    async def go() -> tuple[bool, float]:
        runner = ScriptRunner(slow_after_s=0.3)
        task = runner.run(ScriptSpec(command=str(hung)), why="notify_master")
        await asyncio.sleep(0.6)
        alive = not task.done()
        start = time.monotonic()
        await runner.stop(grace_s=0.5)
        return alive, time.monotonic() - start

    alive, stop_s = asyncio.run(go())
    assert alive
    assert stop_s < 2.0
    assert f"script {hung} (notify_master) still running after 0.3 s" in caplog.text
    assert f"script {hung} (notify_master) still running at stop; terminating it" in caplog.text
    # the shell ignores SIGTERM, and so does its sleep (an ignored signal stays ignored across
    # exec): SIGKILL after the grace time
    assert "still running 0.5 s after stop; killed" in caplog.text
    assert not group_members(int(pids.read_text()))


def test_missing_script_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    async def go() -> int | None:
        return await ScriptRunner().run(ScriptSpec(command="/nonexistent/notify.sh"))

    assert asyncio.run(go()) is None
    assert "cannot run script /nonexistent/notify.sh" in caplog.text


@pytest.mark.skipif(os.geteuid() != 0, reason="script security applies when running as root")
def test_script_security_refuses_a_world_writable_script(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    tmp_path.chmod(0o755)
    unsafe = script(tmp_path / "unsafe.sh", "true", mode=0o777)
    assert insecure_reason(str(unsafe)) is not None

    async def go() -> int | None:
        return await ScriptRunner(secure=True).run(ScriptSpec(command=str(unsafe)))

    assert asyncio.run(go()) is None
    assert "enable_script_security" in caplog.text
    unsafe.chmod(stat.S_IRWXU)


def test_fifo_gets_keepalived_lines(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        NotifyFifo(str(fifo)).write(fifo_line("INSTANCE", "VI_1", "MASTER", 100))
        assert os.read(reader, 100) == b'INSTANCE "VI_1" MASTER 100\n'
    finally:
        os.close(reader)


def test_fifo_without_reader_is_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    NotifyFifo(str(fifo)).write("x")
    assert "notify fifo" in caplog.text
