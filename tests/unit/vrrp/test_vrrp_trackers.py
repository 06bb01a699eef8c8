"""The tracker drivers without root: vrrp_script runs (real /bin/sh), track_file reads."""

import asyncio
import os
import pwd
from collections.abc import Callable
from pathlib import Path

import pytest

from pykeepalived.config.model_common import InitFile, RunAs
from pykeepalived.config.model_vrrp import VrrpScript, VrrpTrackFile
from pykeepalived.vrrp.trackers import (
    FileTrackers,
    Observe,
    ScriptTracker,
    disabled_scripts,
    strtol0,
)
from pykeepalived.vrrp.tracking import Kind


@pytest.mark.parametrize(
    ("text", "value"),
    [("12\n", 12), ("  -7", -7), ("0x10", 16), ("010", 8), ("abc", 0), ("", 0), ("+3x", 3)],
)
def test_strtol0_reads_like_c(text: str, value: int) -> None:
    assert strtol0(text) == value


async def _collect(
    runner_factory: Callable[[Observe], ScriptTracker | FileTrackers], seconds: float
) -> list[tuple[Kind, str, object]]:
    seen: list[tuple[Kind, str, object]] = []

    async def observe(kind: Kind, name: str, value: bool | int | None) -> None:
        seen.append((kind, name, value))

    stop = asyncio.Event()
    task = asyncio.create_task(runner_factory(observe).run(stop))
    await asyncio.sleep(seconds)
    stop.set()
    await asyncio.wait_for(task, 5)
    return seen


def test_script_rise_fall_and_timeout(tmp_path: Path) -> None:
    flag = tmp_path / "flag"
    script = VrrpScript(name="chk", script=f"/usr/bin/test -e {flag}", interval=0.05, fall=2)

    async def scenario() -> list[tuple[Kind, str, object]]:
        async def toggle() -> None:
            await asyncio.sleep(0.3)
            flag.touch()

        asyncio.get_running_loop().create_task(toggle())
        return await _collect(lambda obs: ScriptTracker(script, obs), 0.8)

    seen = asyncio.run(scenario())
    assert seen == [(Kind.SCRIPT, "chk", False), (Kind.SCRIPT, "chk", True)]
    slow = VrrpScript(name="slow", script="/bin/sleep 5", interval=0.1, timeout=0.05)
    seen = asyncio.run(_collect(lambda obs: ScriptTracker(slow, obs), 0.4))
    assert seen == [(Kind.SCRIPT, "slow", False)]


def test_track_file_init_and_change(tmp_path: Path) -> None:
    path = tmp_path / "n"
    tf = VrrpTrackFile(name="tf", file=str(path), init_file=InitFile(value=5))

    async def scenario() -> list[tuple[Kind, str, object]]:
        async def change() -> None:
            await asyncio.sleep(0.2)
            path.write_text("-3\n")

        asyncio.get_running_loop().create_task(change())
        return await _collect(lambda obs: FileTrackers([tf], obs), 0.6)

    assert asyncio.run(scenario()) == [(Kind.FILE, "tf", 5), (Kind.FILE, "tf", -3)]


@pytest.mark.root
def test_script_runs_as_its_user(tmp_path: Path) -> None:
    """``user nobody``: the script runs with nobody's uid (keepalived's vrrp_script user)."""
    nobody = pwd.getpwnam("nobody").pw_uid
    check = f'/bin/sh -c "test $(id -u) = {nobody}"'
    # timeout 5: the default (the interval, 0.1 s) is shorter than a fork of sh + id under CI load
    script = VrrpScript(name="who", script=check, interval=0.1, timeout=5,
                        user=RunAs(username="nobody"))  # fmt: skip
    seen = asyncio.run(_collect(lambda obs: ScriptTracker(script, obs), 1.0))
    assert seen == [(Kind.SCRIPT, "who", True)]
    as_root = VrrpScript(name="who", script=check, interval=0.1, timeout=5)
    seen = asyncio.run(_collect(lambda obs: ScriptTracker(as_root, obs), 1.0))
    assert seen == [(Kind.SCRIPT, "who", False)]


def test_missing_or_insecure_scripts_are_disabled(tmp_path: Path) -> None:
    """keepalived drops them from tracking (a weight-0 one would otherwise hold FAULT)."""
    loose = tmp_path / "loose.sh"
    loose.write_text("#!/bin/sh\nexit 0\n")
    loose.chmod(0o777)  # writable by anyone
    scripts = [
        VrrpScript(name="gone", script="/nonexistent/check --now"),
        VrrpScript(name="loose", script=str(loose)),
        VrrpScript(name="fine", script="/bin/true"),
    ]
    assert disabled_scripts(scripts, secure=False) == {"gone"}
    expected = {"gone", "loose"} if os.geteuid() == 0 else {"gone"}
    assert disabled_scripts(scripts, secure=True) == expected
