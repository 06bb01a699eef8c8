"""Active-active directors over BGP, on the host kernel in namespaces (root): one lab for the
module (BIRD 2 router with ECMP, three directors announcing the VIP through ExaBGP, two DR
web servers, a client), the measurements of ``lab run --active-active`` asserted.

Downloads are 10 s (the issue says 16 s): long enough that each one crosses the whole event
(fault at 1.5 s, withdraw, heal, rejoin), and 6 s less of CI time per test.
"""

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from pykeepalived.lab.aa_topology import ActiveActive
from pykeepalived.lab.scenario import PATIENCE

pytestmark = [
    pytest.mark.root,
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("bird") is None, reason="needs BIRD 2 (apt install bird2)"),
    pytest.mark.skipif(shutil.which("nft") is None, reason="needs nft (apt install nftables)"),
]

HOLD_TIME_S = 3.0


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ActiveActive]:
    import os
    import sys

    from pykeepalived.lab import aa_topology, topology

    if os.geteuid() != 0:
        pytest.skip("needs root for network namespaces")
    if shutil.which("exabgp") is None and not (Path(sys.executable).parent / "exabgp").exists():
        pytest.skip("needs ExaBGP (pip install 'pykeepalived[bgp]')")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(topology, "STATE_DIR", tmp_path_factory.mktemp("aa") / "lab")
        lab = aa_topology.ActiveActive.up(print)
        try:
            assert lab.wait_paths(set(aa_topology.DIRECTORS), 30) is not None, lab.paths()
            yield lab
        finally:
            aa_topology.down(print, lab)


def test_new_connections_spread_over_every_director_and_web_server(lab: ActiveActive) -> None:
    from pykeepalived.lab.aa_scenario import spread

    s = spread(lab, count=60)
    assert s.failed == 0
    assert sorted(+s.directors) == ["dir-1", "dir-2", "dir-3"], s.directors
    assert sorted(+s.webs) == ["web-1", "web-2"], s.webs


def test_a_director_whose_checks_fail_withdraws_and_long_flows_survive(lab: ActiveActive) -> None:
    from pykeepalived.lab.aa_scenario import health_withdraw

    e = health_withdraw(lab, seconds=16.0)  # the 16 s stream across the event
    print(e)
    assert e.gone_s is not None, "the director's path never left the router"
    after_verdict = e.extra["after_verdict_s"]
    assert after_verdict is not None
    bound = 0.1 * PATIENCE
    assert after_verdict < bound, f"route changed {after_verdict:.3f} s after the check verdict"
    assert e.back_s is not None, "healed, the director did not announce again"
    assert e.streams.broken == [], e.streams.line()
    assert e.streams.longest_stall_s < 0.5, e.streams.line()


def test_a_killed_director_leaves_the_router_and_long_flows_survive(lab: ActiveActive) -> None:
    from pykeepalived.lab.aa_scenario import crash

    e = crash(lab, seconds=8.0)
    print(e)
    assert e.gone_s is not None
    assert e.gone_s < HOLD_TIME_S + 1.0
    assert e.back_s is not None, "restarted, the director did not rejoin"
    assert e.streams.broken == [], e.streams.line()


def test_a_graceful_stop_withdraws_before_it_removes_the_data_plane(lab: ActiveActive) -> None:
    from pykeepalived.lab.aa_scenario import graceful_stop

    e = graceful_stop(lab)
    print(e)
    table = e.extra["table_gone_s"]
    assert e.gone_s is not None
    assert table is not None
    assert e.gone_s < table, f"table removed at {table:.3f} s, route left at {e.gone_s:.3f} s"
    assert e.streams.broken == [], e.streams.line()
    log = (lab.state.dir / f"{e.victim}.log").read_text()
    stop = log.rindex("Received SIGTERM")
    assert log.index("BGP: withdraw", stop) < log.index("LVS stop: removed", stop)


def test_negative_another_hash_seed_resets_the_flows_that_move(lab: ActiveActive) -> None:
    """The suite can tell a broken setup: with one director hashing differently, flows moved
    onto it land on the other web server, which resets them."""
    from pykeepalived.lab.aa_scenario import other_seed

    e = other_seed(lab)
    print(e)
    # Every download moves onto the odd director, which picks the other web server for about
    # half of them (independent hashes over two servers): fewer than 2 of 18 is a 1e-4 chance.
    assert len(e.streams.broken) >= 2, e.streams.line()


def test_an_exabgp_that_dies_is_restarted_and_announces_again(lab: ActiveActive) -> None:
    import os
    import signal
    import subprocess

    pattern = f"exabgp server {lab.state.dir}/dir-1/"
    pids = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout.split()
    assert len(pids) == 1, pids
    all_three = {"dir-1", "dir-2", "dir-3"}
    assert lab.wait_paths(all_three, 20) is not None
    os.kill(int(pids[0]), signal.SIGKILL)
    assert lab.wait_paths({"dir-2", "dir-3"}, 10) is not None, "the session did not drop"
    assert lab.wait_paths(all_three, 20) is not None, "ExaBGP was not restarted"
