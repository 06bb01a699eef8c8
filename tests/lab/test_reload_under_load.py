"""Reload under load (issue 8): a client loop through the VIP runs while both directors are
reloaded 20 times with config changes (weights, a real server removed and added back, a
second VIP added and removed): no request fails and neither director changes VRRP state."""

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from pykeepalived.lab import topology
from pykeepalived.lab.scenario import has_vip
from pykeepalived.lab.topology import DIRECTORS, VIP, LabState

pytestmark = [
    pytest.mark.root,
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
]

RELOADS = 20
PAUSE_S = 1.5
CLIENT = """
import json, socket, sys, time
deadline = time.monotonic() + float(sys.argv[2])
ok = failed = 0
errors = []
while time.monotonic() < deadline:
    try:
        with socket.create_connection((sys.argv[1], 80), timeout=2) as s:
            s.sendall(b"GET / HTTP/1.0\\r\\n\\r\\n")
            data = b""
            while chunk := s.recv(4096):
                data += chunk
        ok += data.startswith(b"HTTP/1.0 200")
        if not data.startswith(b"HTTP/1.0 200"):
            failed += 1
            errors.append(f"{time.time():.3f} answer {data[:40]!r}")
    except OSError as exc:
        failed += 1
        errors.append(f"{time.time():.3f} {exc!r}")
    time.sleep(0.02)
print(json.dumps({"ok": ok, "failed": failed, "errors": errors[:10]}))
"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabState]:
    mp = pytest.MonkeyPatch()
    mp.setattr(topology, "STATE_DIR", tmp_path_factory.mktemp("lab") / "run")
    try:
        yield topology.up(print)
    finally:
        topology.down(print)
        mp.undo()


def variant(seed: str, step: int) -> str:
    """The seed config with step-dependent changes that a reload must apply in place."""
    text = seed.replace("weight 3", f"weight {2 + step % 3}", 1)
    if step % 4 == 1:  # node-2 leaves the pool for one reload
        start = text.index("real_server 192.168.88.11 80")
        end = text.index("\n    }\n", start) + len("\n    }\n")
        text = text[:start] + text[end:]
    if step % 2 == 0:  # a second VIP comes and goes
        text = text.replace(
            "192.168.88.100/24\n", "192.168.88.100/24\n         192.168.88.101/24\n", 1
        )
    return text


def states(state: LabState, director: str) -> int:
    log = (topology.STATE_DIR / f"{director}.log").read_text(errors="replace")
    return log.count("Entering MASTER STATE") + log.count("Entering BACKUP STATE")


@pytest.mark.xfail(
    strict=False,
    reason="known defect (issue 8, open): in 2 of 3 CI runs one request of ~1,560 was reset "
    "(ConnectionResetError) during the 20 reloads; 0 failed on reruns; cause not found yet",
)
def test_twenty_reloads_under_load_lose_no_request(lab: LabState) -> None:
    deadline = time.monotonic() + 60
    while not has_vip(lab, DIRECTORS[0]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert has_vip(lab, DIRECTORS[0])
    time.sleep(8)  # the first health checks have run; the table is complete
    seeds = {d: (topology.STATE_DIR / f"{d}.conf").read_text() for d in DIRECTORS}
    before = {d: states(lab, d) for d in DIRECTORS}
    duration = RELOADS * PAUSE_S + 3
    client = subprocess.Popen(
        ["ip", "netns", "exec", lab.ns("client"), sys.executable, "-c", CLIENT, VIP,
         str(duration)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        time.sleep(1.5)
        for step in range(1, RELOADS + 1):
            for director in DIRECTORS:
                text = variant(seeds[director], step if step < RELOADS else 0)
                (topology.STATE_DIR / f"{director}.conf").write_text(text)
                os.kill(lab.pids[f"director:{director}"], signal.SIGHUP)
            time.sleep(PAUSE_S)
        out, _ = client.communicate(timeout=duration + 30)
    finally:
        client.kill()
    counts = json.loads(out)
    print(counts)
    assert counts["failed"] == 0, counts
    assert counts["ok"] > 100
    for director in DIRECTORS:
        log = (topology.STATE_DIR / f"{director}.log").read_text(errors="replace")
        assert log.count("reloaded:") == RELOADS, log[-3000:]
        assert "reload refused" not in log
        assert states(lab, director) == before[director], log[-3000:]
    assert has_vip(lab, DIRECTORS[0])
    assert not has_vip(lab, DIRECTORS[1])
