"""The active-active lab's client: new connections and long downloads through the VIP, each
from a source port of its own (so the router's ECMP hash, and every director's, is the same
on every run). Runs inside the client namespace.

``python -m pykeepalived.lab.streams --vip V connections --count 60 --base-port 41000``
prints ``{"answers": [...]}``: the web server that answered each connection ("" = failed).
``python -m pykeepalived.lab.streams --vip V streams --seconds 8 --ports 40001,40002``
prints ``{"streams": [...]}``: per download its server, bytes, whether it completed, the
longest time without data (stall) and the error if it broke.
"""

import argparse
import json
import socket
import threading
import time
from typing import Any

from pykeepalived.lab.client import body
from pykeepalived.lab.web import stream_length

TIMEOUT_S = 2.0


def _connect(vip: str, port: int, sport: int, timeout: float) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.settimeout(timeout)
    sock.bind(("", sport))
    sock.connect((vip, port))
    return sock


def get(vip: str, port: int, sport: int) -> str:
    try:
        with _connect(vip, port, sport, TIMEOUT_S) as sock:
            return body(sock, vip)
    except OSError:
        return ""


def stream(vip: str, port: int, sport: int, seconds: float) -> dict[str, Any]:
    out: dict[str, Any] = {"sport": sport, "server": "", "bytes": 0, "ok": False, "error": ""}
    want = stream_length(seconds)
    stall = 0.0
    try:
        with _connect(vip, port, sport, TIMEOUT_S) as sock:
            sock.settimeout(seconds + 10)
            sock.sendall(f"GET /stream/{seconds} HTTP/1.0\r\nHost: {vip}\r\n\r\n".encode())
            data, last = b"", time.monotonic()
            while b"\r\n\r\n" not in data and (chunk := sock.recv(65536)):
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            got = len(body)
            for line in head.decode(errors="replace").split("\r\n"):
                if line.startswith("X-Server: "):
                    out["server"] = line.removeprefix("X-Server: ")
            last = time.monotonic()
            while chunk := sock.recv(65536):
                now = time.monotonic()
                stall, last = max(stall, now - last), now
                got += len(chunk)
            out["bytes"] = got
            out["ok"] = got == want
    except OSError as exc:
        out["error"] = f"{type(exc).__name__}: {exc}"
    out["max_stall_s"] = round(stall, 3)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--vip", required=True)
    p.add_argument("--port", type=int, default=80)
    sub = p.add_subparsers(dest="mode", required=True)
    c = sub.add_parser("connections")
    c.add_argument("--count", type=int, default=60)
    c.add_argument("--base-port", type=int, default=41000)
    s = sub.add_parser("streams")
    s.add_argument("--seconds", type=float, default=8.0)
    s.add_argument("--ports", required=True, help="comma-separated source ports")
    args = p.parse_args()
    if args.mode == "connections":
        count = max(1, min(args.count, 5000))
        answers = [get(args.vip, args.port, args.base_port + n) for n in range(count)]
        print(json.dumps({"answers": answers}))
        return
    ports = [int(x) for x in args.ports.split(",")][:200]
    results: list[dict[str, Any]] = [{} for _ in ports]

    def one(i: int, sport: int) -> None:
        results[i] = stream(args.vip, args.port, sport, args.seconds)

    threads = [threading.Thread(target=one, args=(i, sp)) for i, sp in enumerate(ports)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(args.seconds + 30)
    print(json.dumps({"streams": results}))


if __name__ == "__main__":
    main()
