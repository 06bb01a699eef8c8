"""``pykeepalived status``: the daemon's state as terminal tables, from the API or a JSON dump.

Rules: L5, a reader like the dashboard: it reads the JSON that ``GET /api/v1/snapshot`` serves
(from the running daemon with ``--api URL``, or saved in a file with ``--file``) and prints it.
It changes nothing. Exit codes: 0 shown, 1 cannot read the state, 2 usage.
"""

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any, TextIO

ENV_URL = "PYKEEPALIVED_API"


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    cells = [[str(c) for c in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return lines


def _ago(at: float, now: float) -> str:
    s = max(0.0, now - at)
    return (
        f"{s:.0f}s ago" if s < 90 else f"{s / 60:.0f}m ago" if s < 5400 else f"{s / 3600:.1f}h ago"
    )


def render(snap: dict[str, Any], now: float | None = None, events: int = 10) -> str:
    now = time.time() if now is None else now
    out = [
        f"pykeepalived {snap['version']}  config {snap['config_path']}  data plane "
        f"{snap['backend']}  up {_ago(snap['started_at'], now).removesuffix(' ago')}  "
        f"reloads {snap['reloads']}",
        "",
        "VRRP instances",
    ]
    rows = []
    for i in snap["instances"]:
        last = i["transitions"][-1] if i["transitions"] else None
        prio = str(i["priority"])
        if i["effective_priority"] != i["priority"]:
            prio = f"{i['effective_priority']} ({i['priority']})"
        owner = "this node" if i["state"] == "MASTER" else (i["master_ip"] or "unknown")
        moved = f"{last['old']}->{last['new']} {_ago(last['at'], now)}" if last else "-"
        rows.append(
            [
                i["name"],
                i["state"] + (",held" if i.get("held") else ""),  # release-master
                prio,
                ",".join(i["vips"]) or "-",
                owner,
                f"{i['interface']}/{i['virtual_router_id']}",
                f"{i['adverts_sent']}/{i['adverts_received']}",
                moved,
            ]
        )
    out += (
        table(
            [
                "INSTANCE",
                "STATE",
                "PRIO",
                "VIPS",
                "VIP OWNER",
                "IF/VRID",
                "ADV S/R",
                "LAST TRANSITION",
            ],
            rows,
        )
        if rows
        else ["  none"]
    )
    for g in snap["sync_groups"]:
        out.append(f"sync group {g['name']}: {g['state']} ({', '.join(g['members'])})")
    if snap["virtual_servers"]:
        notes = [snap["backend_reason"], *snap["backend_notes"]]
        out += ["", f"Data plane {snap['backend']}: " + "; ".join(n for n in notes if n)]
    for vs in snap["virtual_servers"]:
        quorum = "quorum up" if vs["quorum_up"] else "QUORUM DOWN"
        out += ["", f"Virtual server {vs['id']}  {vs['scheduler']} {vs['method']}  {quorum}"]
        rows = []
        for rs in vs["real_servers"]:
            health = ("up" if rs["healthy"] else "DOWN") + (" drained" if rs["drained"] else "")
            programmed = "-" if rs["programmed_weight"] is None else rs["programmed_weight"]
            probe = "; ".join(
                f"{p['checker']} {p['reason'] or ('ok' if p['ok'] else 'failed')}"
                + ("" if p["latency_s"] is None else f" {p['latency_s'] * 1000:.1f}ms")
                for p in rs["probes"]
            )
            c = rs["counters"]
            rows.append(
                [
                    f"{rs['address']}:{rs['port']}",
                    health,
                    rs["weight"],
                    f"{rs['configured_weight']}/{programmed}",
                    probe or "-",
                    f"{c['active_connections']}/{c['connections']}",
                ]
            )
        out += (
            table(["REAL SERVER", "HEALTH", "WEIGHT", "CONF/PROG", "LAST PROBE", "CONNS"], rows)
            if rows
            else ["  no real servers"]
        )
    if events:
        out += ["", "Recent events"]
        for e in snap["events"][-events:]:
            stamp = time.strftime("%H:%M:%S", time.localtime(e["at"]))
            out.append(f"  {stamp} [{e['kind']}] {e['message']}")
    return "\n".join(out) + "\n"


def fetch(url: str, timeout_s: float = 5.0) -> dict[str, Any]:
    base = url.rstrip("/")
    if not base.startswith(("http://", "https://")):
        base = f"http://{base}"
    with urllib.request.urlopen(f"{base}/api/v1/snapshot", timeout=timeout_s) as resp:
        data: dict[str, Any] = json.loads(resp.read())
    return data


def main(argv: Sequence[str], out: TextIO | None = None) -> int:
    p = argparse.ArgumentParser(prog="pykeepalived status", description=__doc__)
    src = p.add_mutually_exclusive_group()
    src.add_argument(
        "--api",
        metavar="URL",
        default=os.environ.get(ENV_URL),
        help=f"the daemon's API, e.g. http://127.0.0.1:8080 (or ${ENV_URL})",
    )
    src.add_argument("--file", metavar="JSON", help="a saved GET /api/v1/snapshot answer")
    p.add_argument("--events", type=int, default=10, help="recent events to show (0: none)")
    p.add_argument("--json", action="store_true", help="print the snapshot JSON as it is")
    args = p.parse_args(list(argv))
    if not (args.api or args.file):
        p.print_usage(sys.stderr)
        print(
            f"pykeepalived status: give --api URL (or set ${ENV_URL}) or --file JSON",
            file=sys.stderr,
        )
        return 2
    try:
        if args.file:
            with open(args.file, encoding="utf-8") as f:
                snap = json.load(f)
        else:
            snap = fetch(args.api)
        text = json.dumps(snap, indent=2) + "\n" if args.json else render(snap, events=args.events)
    except (OSError, ValueError, urllib.error.URLError) as exc:
        print(
            f"pykeepalived status: cannot read the state from {args.file or args.api}: {exc}",
            file=sys.stderr,
        )
        return 1
    except (KeyError, TypeError) as exc:
        print(
            f"pykeepalived status: {args.file or args.api} is not a pykeepalived snapshot "
            f"(missing {exc})",
            file=sys.stderr,
        )
        return 1
    (out or sys.stdout).write(text)
    return 0
