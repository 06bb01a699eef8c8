"""The README's main job: `pykeepalived lab run` plays the seed's tutorial and every step
passes; `lab down` leaves no namespace, process or nftables table behind."""

import os
import subprocess
import sys
from pathlib import Path

import pytest


def namespaces() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    return {line.split()[0] for line in out.stdout.splitlines() if line.strip()}


@pytest.mark.root
@pytest.mark.slow
def test_lab_run_plays_the_seed_and_cleans_up(tmp_path: Path) -> None:
    env = {**os.environ, "PYKEEPALIVED_LAB_DIR": str(tmp_path / "lab")}
    done = subprocess.run(
        [sys.executable, "-m", "pykeepalived", "lab", "run"],
        capture_output=True, text=True, timeout=300, env=env, check=False,
    )  # fmt: skip
    print(done.stdout, done.stderr)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Seed scenario: all steps passed (7 steps)" in done.stdout
    assert "data plane: " in done.stdout
    created = done.stdout.split("lab up: namespaces ", 1)[1].splitlines()[0].split(", ")
    assert len(created) == 6
    assert not set(created) & namespaces()
    assert not (tmp_path / "lab").exists()
    leftovers = subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True, text=True)
    assert leftovers.stdout == ""


def test_lab_refuses_clearly_without_root(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from pykeepalived.lab.cli import main

    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    for action in ("up", "down", "run"):
        assert main([action]) == 1
        assert "needs root" in capsys.readouterr().err
