"""``pykeepalived lab up|run|down|status``: the seed's system on this machine."""

import argparse
import sys

from pykeepalived.lab import aa_topology
from pykeepalived.lab.scenario import Scenario, has_vip
from pykeepalived.lab.topology import DIRECTORS, STATE_DIR, LabError, LabState, down, up


def _print(line: str) -> None:
    print(line, flush=True)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="pykeepalived lab", description=__doc__)
    p.add_argument("action", choices=("up", "run", "down", "status"))
    p.add_argument("--keep", action="store_true", help="run: leave the lab up afterwards")
    p.add_argument(
        "--active-active",
        action="store_true",
        help="up/run: three directors announcing the VIP over BGP to an ECMP router",
    )
    p.add_argument(
        "--speaker",
        choices=("exabgp", "bird"),
        default="exabgp",
        help="--active-active: the directors' BGP engine (bird adds BFD)",
    )
    args = p.parse_args(argv)
    try:
        if args.active_active and args.action in ("up", "run"):
            return _active_active(args.action, keep=args.keep, speaker=args.speaker)
        if args.action == "up":
            up(_print)
        elif args.action == "down":
            state = LabState.load()
            if state is not None and aa_topology.is_active_active(state):
                aa_topology.down(_print)
            else:
                down(_print)
        elif args.action == "status":
            return status()
        else:
            return run(keep=args.keep)
    except LabError as exc:
        print(f"pykeepalived lab: {exc}", file=sys.stderr)
        return 1
    return 0


def _active_active(action: str, *, keep: bool, speaker: str) -> int:
    from pykeepalived.lab.aa_scenario import ActiveActiveScenario

    lab = aa_topology.ActiveActive.up(_print, speaker=speaker)
    if action == "up":
        return 0
    try:
        ok = ActiveActiveScenario(lab, _print).run()
    finally:
        if not keep:
            aa_topology.down(_print, lab)
        else:
            _print(f"lab left up (logs in {STATE_DIR}); 'pykeepalived lab down' removes it")
    return 0 if ok else 1


def run(*, keep: bool) -> int:
    state = LabState.load() or up(_print)
    try:
        ok = Scenario(state, _print).run()
    finally:
        if not keep:
            down(_print)
        else:
            _print(f"lab left up (logs in {STATE_DIR}); 'pykeepalived lab down' removes it")
    return 0 if ok else 1


def status() -> int:
    state = LabState.load()
    if state is None:
        _print("no lab is up")
        return 0
    _print(f"lab {state.prefix}: namespaces {', '.join(state.namespaces)}")
    if aa_topology.is_active_active(state):
        paths = sorted(aa_topology.ActiveActive(state).paths())
        _print(f"  router: {aa_topology.VIP} via {', '.join(paths) or 'nobody'}")
    else:
        for director in DIRECTORS:
            vip = "holds the VIP" if has_vip(state, director) else "no VIP"
            _print(f"  {director}: {vip}")
    for name, pid in sorted(state.pids.items()):
        _print(f"  {name}: pid {pid}")
    return 0
