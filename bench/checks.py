"""HTTP health checks at delay_loop 1: our CheckRunner vs HAProxy, against loopback nginx.

One process (this one) checks N HTTP real servers with ``check.from_config`` + ``CheckRunner``,
exactly as the daemon would build them from a keepalived.conf with N ``HTTP_GET`` checkers
(``delay_loop 1``, ``connect_timeout 1``, ``url { path / status_code 200 }``). Each real server
is an ip:port pair on 127.1.0.0/16 x a few ports; nginx (Debian's, installed with apt-get if
missing) listens on those ports (wildcard address, ``allow 127.0.0.0/8; deny all``) and
answers 200. HAProxy (Debian's, same servers, ``option httpchk GET /``, ``inter 1s``) checks
the same servers as the anchor; nginx's request counter gives its achieved rate.

Figures per side, over the measurement window: checks/s; on-time ratio (probes started within
100 ms of their due time: ours from the runner's counters; HAProxy does not say); CPU time
per check (ours: ``getrusage(RUSAGE_SELF)``, user + system; HAProxy: utime + stime of its
process from /proc/PID/stat); the ratio ours / HAProxy. By default both sides run at once
and are measured over the same window, so a busy machine weighs on both alike (HAProxy's
rate is nginx's count less ours); ``--sequential`` runs them one after the other instead.
Also per window: nginx's CPU and how busy the whole machine was (every process, /proc/stat),
so a side that fell behind for want of CPU shows it. ``--pin`` puts nginx on CPU 0 and the
checker side (this process, and HAProxy, which inherits it) on CPU 1.

Usage: .venv/bin/python bench/checks.py --servers 1000,3000,10000 --duration 15
       .venv/bin/python bench/checks.py --servers 10000 --duration 15 --sequential --pin
Not part of the test suite.
"""

import argparse
import asyncio
import ctypes
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from pykeepalived.check.from_config import build
from pykeepalived.check.runner import CheckEvent, CheckRunner, RunnerStats
from pykeepalived.config.loader import load

PORTS = (18081, 18082, 18083, 18084)
STATUS_PORT = 18080
SETTLE_S = 4.0  # bootstrap delay (1 s) + warmup spread (1 s) + margin
TICK = os.sysconf("SC_CLK_TCK")


@dataclass
class Side:
    name: str
    checks_per_s: float
    on_time: float | None  # ratio in [0, 1]; None when not measurable
    cpu_us_per_check: float
    cpu_share: float  # of one core
    sys_us_per_check: float = 0.0  # the kernel's part of cpu_us_per_check
    failed: int | None = None
    max_late_ms: float | None = None


def _die_with_us() -> None:
    """In the child: SIGTERM it when the bench dies, however it dies (PR_SET_PDEATHSIG)."""
    ctypes.CDLL(None, use_errno=True).prctl(1, 15, 0, 0, 0)


def ensure(binary: str, package: str) -> str:
    path = shutil.which(binary)
    if path is None:
        print(f"installing {package} with apt-get ...", file=sys.stderr)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "install", "-y", "-q", package], check=True, env=env)
        path = shutil.which(binary)
    assert path is not None, f"{binary} not found after installing {package}"
    return path


def servers(n: int) -> list[tuple[str, int]]:
    """n distinct ip:port pairs: 127.1.a.b x PORTS."""
    out = []
    for i in range(n):
        host, port = divmod(i, len(PORTS))
        out.append((f"127.1.{host // 250}.{host % 250 + 1}", PORTS[port]))
    return out


# -- nginx ---------------------------------------------------------------------------------


def start_nginx(nginx: str, workdir: Path, workers: int) -> subprocess.Popen[bytes]:
    listens = "\n".join(f"    listen {port} backlog=4096;" for port in PORTS)
    conf = f"""
worker_processes {workers};
pid {workdir}/nginx.pid;
error_log {workdir}/nginx-error.log crit;
events {{ worker_connections 8192; multi_accept on; }}
http {{
  access_log off;
  keepalive_timeout 0;
  server {{
{listens}
    allow 127.0.0.0/8;
    deny all;
    location / {{ return 200 "ok\\n"; }}
  }}
  server {{
    listen 127.0.0.1:{STATUS_PORT};
    location / {{ stub_status; }}
  }}
}}
"""
    (workdir / "nginx.conf").write_text(conf)
    for sub in ("client_body_temp", "proxy_temp", "fastcgi_temp", "uwsgi_temp", "scgi_temp"):
        (workdir / sub).mkdir(exist_ok=True)
    proc = subprocess.Popen(
        [nginx, "-p", str(workdir), "-c", str(workdir / "nginx.conf"), "-g", "daemon off;"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, preexec_fn=_die_with_us,
    )  # fmt: skip
    for _ in range(50):
        try:
            nginx_requests()
            return proc
        except OSError:
            time.sleep(0.1)
    proc.terminate()
    raise RuntimeError("nginx did not come up")


def pin(nginx_pid: int) -> None:
    """nginx (master and workers) on CPU 0; this process, and so HAProxy, on CPU 1."""
    children = Path(f"/proc/{nginx_pid}/task/{nginx_pid}/children").read_text().split()
    for pid in (nginx_pid, *map(int, children)):
        os.sched_setaffinity(pid, {0})
    os.sched_setaffinity(0, {1})
    print("pinned: nginx on CPU 0, the checkers on CPU 1")


def nginx_requests() -> int:
    """Total requests nginx has served (stub_status), the status request itself included."""
    with urllib.request.urlopen(f"http://127.0.0.1:{STATUS_PORT}/", timeout=2) as reply:
        lines = reply.read().decode().splitlines()
    return int(lines[2].split()[2])


def machine_busy() -> tuple[int, int]:
    """(busy, total) jiffies over all CPUs from /proc/stat; busy is all but idle and iowait."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return sum(fields) - fields[3] - fields[4], sum(fields)


def nginx_cpu(master: int) -> float:
    """utime + stime of nginx's workers (the master's children), in seconds."""
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return sum(cpu_of(int(pid))[0] for pid in children)


def cpu_of(pid: int) -> tuple[float, float]:
    """(utime + stime, stime) of a process (all its threads), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK, int(fields[12]) / TICK


# -- our side ------------------------------------------------------------------------------


def keepalived_conf(pairs: list[tuple[str, int]]) -> str:
    out = []
    per_vs = 1000
    for v in range(0, len(pairs), per_vs):
        out.append(
            f"virtual_server 192.0.2.{v // per_vs + 1} 80 {{\n delay_loop 1\n lvs_method NAT\n"
        )
        for ip, port in pairs[v : v + per_vs]:
            out.append(
                f" real_server {ip} {port} {{\n  HTTP_GET {{\n   url {{\n    path /\n"
                "    status_code 200\n   }\n   connect_timeout 1\n  }\n }\n"
            )
        out.append("}\n")
    return "".join(out)


@dataclass
class Window:
    """What was sampled at the window's edges besides our runner: nginx and HAProxy."""

    seconds: float = 0.0
    nginx_requests: int = 0
    haproxy_cpu_s: float = 0.0
    haproxy_sys_s: float = 0.0
    nginx_cpu_s: float = 0.0
    busy_cores: float = 0.0  # the whole machine's, every process


@dataclass
class Edge:
    at: float
    requests: int
    haproxy: tuple[float, float]
    nginx_cpu_s: float
    busy: tuple[int, int]


def _edge(haproxy_pid: int | None) -> Edge:
    cpu = cpu_of(haproxy_pid) if haproxy_pid is not None else (0.0, 0.0)
    nginx = nginx_cpu(NGINX_PID) if NGINX_PID else 0.0
    return Edge(time.monotonic(), nginx_requests(), cpu, nginx, machine_busy())


def _window(e0: Edge, e1: Edge, ours_done: int) -> Window:
    """The window between two edges; nginx's count less our probes and one status request."""
    busy = (e1.busy[0] - e0.busy[0]) / max(e1.busy[1] - e0.busy[1], 1) * (os.cpu_count() or 1)
    return Window(seconds=e1.at - e0.at, nginx_requests=e1.requests - e0.requests - 1 - ours_done,
                  haproxy_cpu_s=e1.haproxy[0] - e0.haproxy[0],
                  haproxy_sys_s=e1.haproxy[1] - e0.haproxy[1],
                  nginx_cpu_s=e1.nginx_cpu_s - e0.nginx_cpu_s, busy_cores=busy)  # fmt: skip


NGINX_PID = 0  # set by main: whose workers' CPU the windows sample


async def run_ours(
    pairs: list[tuple[str, int]], duration: float, haproxy_pid: int | None = None
) -> tuple[Side, Window]:
    """Our side; with ``haproxy_pid``, HAProxy runs alongside and is sampled at the same edges."""
    result = load("bench.conf", text=keepalived_conf(pairs))
    assert result.config is not None, [d.render() for d in result.errors]
    plan = build(result.config)
    assert len(plan.checks) == len(pairs), plan.notes[:3]
    downs: list[CheckEvent] = []

    def emit(event: CheckEvent) -> None:
        if type(event.event).__name__ == "CheckerDown":
            downs.append(event)

    runner = CheckRunner(plan.checks, emit, freeze_gc=True)  # as the daemon's (lvs_side)
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop), name="runner")
    await asyncio.sleep(SETTLE_S)
    runner.stats = RunnerStats()
    cpu0, e0 = _self_cpu(), _edge(haproxy_pid)
    await asyncio.sleep(duration)
    cpu1, e1 = _self_cpu(), _edge(haproxy_pid)
    t0, t1 = e0.at, e1.at
    stats = runner.stats
    stop.set()
    await task
    if downs:
        print(f"  ours: {len(downs)} checker(s) went down, first: {downs[0]}", file=sys.stderr)
    done = max(stats.done, 1)
    side = Side(
        name="pykeepalived",
        checks_per_s=stats.done / (t1 - t0),
        on_time=1 - stats.started_late / max(stats.started, 1),
        cpu_us_per_check=(cpu1[0] - cpu0[0]) / done * 1e6,
        cpu_share=(cpu1[0] - cpu0[0]) / (t1 - t0),
        sys_us_per_check=(cpu1[1] - cpu0[1]) / done * 1e6,
        failed=stats.failed,
        max_late_ms=stats.max_lateness_s * 1000,
    )
    return side, _window(e0, e1, stats.done)


def _self_cpu() -> tuple[float, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime, usage.ru_stime


# -- HAProxy -------------------------------------------------------------------------------


def haproxy_conf(pairs: list[tuple[str, int]]) -> str:
    out = [
        "global\n  nbthread 1\n  maxconn 4096\n",
        "defaults\n  mode http\n  timeout connect 1s\n  timeout check 1s\n"
        "  timeout client 5s\n  timeout server 5s\n",
        "frontend idle\n  bind 127.0.0.1:18090\n  default_backend b0\n",  # haproxy needs one
    ]
    per_backend = 1000
    for b in range(0, len(pairs), per_backend):
        out.append(f"backend b{b // per_backend}\n  option httpchk GET /\n")
        out.append("  http-check expect status 200\n")
        for i, (ip, port) in enumerate(pairs[b : b + per_backend]):
            out.append(f"  server s{b + i} {ip}:{port} check inter 1s\n")
    return "".join(out)


def start_haproxy(
    haproxy: str, workdir: Path, pairs: list[tuple[str, int]]
) -> subprocess.Popen[bytes]:
    (workdir / "haproxy.cfg").write_text(haproxy_conf(pairs))
    proc = subprocess.Popen(
        [haproxy, "-db", "-q", "-f", str(workdir / "haproxy.cfg")],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, preexec_fn=_die_with_us,
    )  # fmt: skip
    time.sleep(SETTLE_S)
    if proc.poll() is not None:
        raise RuntimeError(f"haproxy exited with {proc.returncode}")
    return proc


def haproxy_side(window: Window) -> Side:
    checks = max(window.nginx_requests, 1)
    return Side(
        name="haproxy",
        checks_per_s=window.nginx_requests / window.seconds,
        on_time=None,
        cpu_us_per_check=window.haproxy_cpu_s / checks * 1e6,
        cpu_share=window.haproxy_cpu_s / window.seconds,
        sys_us_per_check=window.haproxy_sys_s / checks * 1e6,
    )


def run_haproxy_alone(
    haproxy: str, workdir: Path, pairs: list[tuple[str, int]], duration: float
) -> Side:
    proc = start_haproxy(haproxy, workdir, pairs)
    try:
        e0 = _edge(proc.pid)
        time.sleep(duration)
        e1 = _edge(proc.pid)
    finally:
        stop(proc)
    window = _window(e0, e1, 0)
    print(f"  (HAProxy alone: nginx {window.nginx_cpu_s / window.seconds:.2f} core, machine busy "
          f"{window.busy_cores:.2f} of {os.cpu_count()} cores)")  # fmt: skip
    return haproxy_side(window)


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# -- main ----------------------------------------------------------------------------------


def step(n: int, args: argparse.Namespace, haproxy: str, workdir: Path) -> None:
    pairs = servers(n)
    mode = "one after the other" if args.sequential else "side by side, same window"
    print(f"\n== {n} servers, delay_loop/inter 1 s, {args.duration:g} s window, {mode} ==")
    load_before = os.getloadavg()
    if args.sequential:
        ours, window = asyncio.run(run_ours(pairs, args.duration))  # on the loop policy chosen
        theirs = run_haproxy_alone(haproxy, workdir, pairs, args.duration)
    else:
        proc = start_haproxy(haproxy, workdir, pairs)
        try:
            ours, window = asyncio.run(run_ours(pairs, args.duration, proc.pid))
        finally:
            stop(proc)
        theirs = haproxy_side(window)
    load_after = os.getloadavg()
    for side in (ours, theirs):
        on_time = "n/a" if side.on_time is None else f"{side.on_time:.4f}"
        extra = "" if side.failed is None else (
            f"  failed {side.failed}  max lateness {side.max_late_ms:.0f} ms"
        )  # fmt: skip
        cpu = (f"CPU {side.cpu_us_per_check:6.1f} us/check (kernel {side.sys_us_per_check:.0f};"
               f" {side.cpu_share:.2f} core)")  # fmt: skip
        rate = f"{side.checks_per_s:8.0f} checks/s"
        print(f"  {side.name:13} {rate}  on time {on_time:>6}  {cpu}{extra}")
    ratio = ours.cpu_us_per_check / theirs.cpu_us_per_check
    alone = " (ours alone)" if args.sequential else ""
    print(f"  nginx{alone}: {window.nginx_cpu_s / window.seconds:.2f} core; machine busy "
          f"{window.busy_cores:.2f} of {os.cpu_count()} cores (every process)")  # fmt: skip
    print(f"  CPU per check, ours / HAProxy: {ratio:.2f}x   "
          f"(load average {load_before[0]:.2f} -> {load_after[0]:.2f})")  # fmt: skip
    print(f"  | {n} | {ours.checks_per_s:.0f} | {ours.on_time:.4f} | {ours.max_late_ms:.0f} | "
          f"{ours.cpu_us_per_check:.0f} | {theirs.checks_per_s:.0f} | "
          f"{theirs.cpu_us_per_check:.0f} | {ratio:.2f} | {load_after[0]:.1f} |")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", default="1000,3000,10000")
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--nginx-workers", type=int, default=2)
    parser.add_argument(
        "--sequential",
        action="store_true",
        help="HAProxy after us, each alone with nginx (default: side by side)",
    )
    parser.add_argument(
        "--loop",
        choices=("asyncio", "uvloop"),
        default="asyncio",
        help="our side's event loop (uvloop: if installed; not a dependency)",
    )
    parser.add_argument(
        "--pin",
        action="store_true",
        help="nginx on CPU 0, the checker side (us, HAProxy) on CPU 1, so nginx's wake-ups do "
        "not preempt the checker; meant with --sequential (side by side both checkers would "
        "share CPU 1)",
    )
    args = parser.parse_args()
    if args.loop == "uvloop":
        import uvloop  # optional, only here

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    print(f"our loop: {args.loop}; load average {os.getloadavg()[0]:.2f}")
    nginx = ensure("nginx", "nginx-light")
    haproxy = ensure("haproxy", "haproxy")
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    global NGINX_PID
    with tempfile.TemporaryDirectory(prefix="bench-checks-") as tmp:
        workdir = Path(tmp)
        proc = start_nginx(nginx, workdir, args.nginx_workers)
        NGINX_PID = proc.pid
        if args.pin:
            pin(proc.pid)
        try:
            for n in (int(x) for x in args.servers.split(",")):
                step(n, args, haproxy, workdir)
        finally:
            stop(proc)


if __name__ == "__main__":
    main()
