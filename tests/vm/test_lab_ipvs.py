"""The seed's whole scenario with the kernel's IPVS (in the test VM): `pykeepalived lab run`
picks IPVS by itself, every step passes, and `ipvsadm -Ln` on the master shows the seed's
table (wlc, DR, two real servers of weight 3)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.ipvs, pytest.mark.root]


def test_lab_run_on_ipvs(tmp_path: Path) -> None:
    # Python runs 10-15 times slower under TCG: give every step four times its bound.
    env = {**os.environ, "PYKEEPALIVED_LAB_DIR": str(tmp_path / "lab"),
           "PYKEEPALIVED_LAB_PATIENCE": "4"}  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "pykeepalived", "lab", "run"],
        capture_output=True, text=True, timeout=600, env=env, check=False,
    )  # fmt: skip
    print(done.stdout, done.stderr)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "data plane: ipvs" in done.stdout
    table = [line.split("|", 1)[1] for line in done.stdout.splitlines() if "ipvsadm -Ln |" in line]
    assert any("TCP  192.168.88.100:80 wlc" in line for line in table), table
    assert any("192.168.88.10:80" in line and "Route" in line and " 3 " in line for line in table)
    assert any("192.168.88.11:80" in line and "Route" in line and " 3 " in line for line in table)
    assert "Seed scenario: all steps passed" in done.stdout
