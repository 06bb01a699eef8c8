"""The seed's whole scenario with the kernel's IPVS (in the test VM), the directors started and
stopped as keepalived is: `pykeepalived -n -l -D -f CONF -p PID -r VRRP_PID -c CHECK_PID`, a
graceful stop is SIGTERM to the pid in the -p file. Every step passes, `ipvsadm -Ln` on the
master shows the seed's table (wlc, DR, two real servers of weight 3), requests through the VIP
reach both web servers, and a stopped director leaves no VIP, pid file or IPVS entry."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from pykeepalived.lab import scenario, topology
from pykeepalived.lab.scenario import Scenario, has_vip
from pykeepalived.lab.topology import DIRECTORS, LabState, pid_files, stop_director

# The lab's processes are stopped by PID; their Popen objects are dropped on purpose.
pytestmark = [
    pytest.mark.ipvs,
    pytest.mark.root,
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
]

KEEPALIVED_FLAGS = ["-n", "-l", "-D", "-f", "-p", "-r", "-c"]


@pytest.fixture
def lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LabState]:
    monkeypatch.setattr(topology, "STATE_DIR", tmp_path / "lab")
    # Python runs 10-15 times slower under TCG: give every step four times its bound.
    monkeypatch.setattr(scenario, "PATIENCE", 4.0)
    state = topology.up(print)
    try:
        yield state
    finally:
        topology.down(print)


def cmdline(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[:-1]


def test_lab_on_ipvs_with_keepalived_command_line(lab: LabState) -> None:
    lines: list[str] = []
    ok = Scenario(lab, lines.append).run()
    print("\n".join(lines))
    assert ok, "\n".join(lines)
    assert any("data plane: ipvs" in line for line in lines)
    stop = next(line for line in lines if "SIGTERM to its -p pid" in line)
    assert "it left no VIP, pid file or LVS entry" in stop, stop
    table = [line.split("|", 1)[1] for line in lines if "ipvsadm -Ln |" in line]
    assert any("TCP  192.168.88.100:80 wlc" in line for line in table), table
    for rip in ("192.168.88.10:80", "192.168.88.11:80"):
        assert any(rip in line and "Route" in line and " 3 " in line for line in table), table

    # Both directors (the master restarted by the scenario) run keepalived's command line and
    # wrote its three pid files; SIGTERM to the -p pid stops each without leftovers.
    for director in DIRECTORS:
        pid = lab.pids[f"director:{director}"]
        argv = cmdline(pid)
        assert argv[1:3] == ["-m", "pykeepalived"], argv
        assert [a for a in argv[3:] if a.startswith("-") and len(a) == 2] == KEEPALIVED_FLAGS
        for path in pid_files(director):
            assert path.read_text() == f"{pid}\n", path
    for director in DIRECTORS:
        stop_director(lab, director)
        assert not has_vip(lab, director)
        assert not any(p.exists() for p in pid_files(director))
        listing = lab.exec(director, "ipvsadm", "-Ln")
        assert not [row for row in listing.splitlines() if row.startswith(("TCP", "UDP"))], listing
