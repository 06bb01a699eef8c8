"""LVS apply benchmark, IPVS part: 1,000 services x 4 real servers into the kernel's IPVS.

Three ways to program the same rules, each in a fresh network namespace (IPVS is per
namespace), side by side on the same kernel:

- pykeepalived: ``IpvsDataPlane.apply`` of the reconcile plan (5,000 netlink requests,
  pipelined in batches), and the whole path from the config file (load -> desired state ->
  plan -> apply, in-process);
- ``ipvsadm -R`` of the same rules (``ip netns exec`` start-up included);
- keepalived 2.2.7 (``-C``, checker process only) with an equivalent config: time from its
  start until ``ipvsadm -Ln`` lists all 4,000 real servers (polled every 0.1 s).

Plus, for pykeepalived: ``observe()`` (dump of the whole table), a no-op plan, one weight
change, and teardown. Each figure is the median of ``--runs`` runs (best in brackets).

Needs root and kernel IPVS, i.e. the test VM on this project's machines::

    .venv/bin/python tests/vm/ipvs_vm.py --timeout 1500 -- \\
        .venv/bin/python bench/lvs_apply_ipvs.py --runs 3
"""

import argparse
import asyncio
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from ipaddress import IPv4Address
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from pykeepalived.config.loader import load
from pykeepalived.kernel.ipvs import IpvsDataPlane, op_message
from pykeepalived.lvs.desired import compute
from pykeepalived.lvs.reconcile import plan, teardown
from pykeepalived.lvs.table import (
    Destination,
    DestKey,
    Method,
    Service,
    ServiceEntry,
    ServiceKey,
    Table,
)

DESTS = 4
KEEPALIVED = "/usr/sbin/keepalived"


def vip(i: int) -> IPv4Address:
    return IPv4Address(0x0A000000 + i + 1)


def rip(i: int, j: int) -> IPv4Address:
    return IPv4Address(0x0A400000 + i * DESTS + j + 2)


def make_table(services: int, bump: int = -1) -> Table:
    out = {}
    for i in range(services):
        key = ServiceKey(family=4, protocol="TCP", address=vip(i), port=80)
        dests = {}
        for j in range(DESTS):
            weight = 2 if (i == bump and j == 0) else 1
            d = Destination(
                key=DestKey(address=rip(i, j), port=80), weight=weight, method=Method.NAT
            )
            dests[d.key] = d
        out[key] = ServiceEntry(service=Service(key=key, scheduler="wrr"), destinations=dests)
    return out


def ipvsadm_rules(services: int) -> str:
    lines = []
    for i in range(services):
        lines.append(f"-A -t {vip(i)}:80 -s wrr")
        lines += [f"-a -t {vip(i)}:80 -r {rip(i, j)}:80 -m -w 1" for j in range(DESTS)]
    return "\n".join(lines) + "\n"


def keepalived_conf(services: int) -> str:
    parts = ["global_defs {\n    router_id bench\n}\n"]
    for i in range(services):
        rs = "".join(
            f"    real_server {rip(i, j)} 80 {{\n        weight 1\n    }}\n" for j in range(DESTS)
        )
        parts.append(
            f"virtual_server {vip(i)} 80 {{\n    lb_algo wrr\n    lb_kind NAT\n"
            f"    protocol TCP\n{rs}}}\n"
        )
    return "".join(parts)


class Netns:
    def __init__(self) -> None:
        self.name = f"bench-{uuid.uuid4().hex[:6]}"

    def __enter__(self) -> str:
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        # lo down, no local table: IPVS sees every real server as non-unicast (EINVAL)
        lo_up = ["ip", "netns", "exec", self.name, "ip", "link", "set", "lo", "up"]
        subprocess.run(lo_up, check=True)
        return self.name

    def __exit__(self, *exc: object) -> None:
        subprocess.run(["ip", "netns", "del", self.name], check=False)


def count_dests(ns: str) -> int:
    out = subprocess.run(
        ["ip", "netns", "exec", ns, "ipvsadm", "-Ln"], capture_output=True, text=True, check=True
    ).stdout
    lines = out.splitlines()
    return sum(1 for line in lines if line.startswith("  -> ") and "RemoteAddress" not in line)


def fmt(times: list[float]) -> str:
    return f"{statistics.median(times):8.3f} s  (best {min(times):.3f})"


async def ours(services: int, conf: Path) -> dict[str, float]:
    base = make_table(services)
    bumped = make_table(services, bump=services // 2)
    result: dict[str, float] = {}
    t0 = time.perf_counter()
    for op in plan(base, {}, ()):
        msg = op_message(op)
        msg["header"]["type"] = 0x1E
        msg.encode()
    result["encode"] = time.perf_counter() - t0
    with Netns() as ns:
        backend = IpvsDataPlane(netns=ns)
        await backend.observe()  # open the socket outside the timings
        t0 = time.perf_counter()
        failures = await backend.apply(plan(base, {}, ()), base)
        result["apply"] = time.perf_counter() - t0
        assert failures == [], (len(failures), failures[:2])
        assert count_dests(ns) == services * DESTS
        t0 = time.perf_counter()
        observed = await backend.observe()
        result["observe"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        assert plan(base, observed, base) == []
        result["noop"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        ops = plan(bumped, observed, bumped)
        assert len(ops) == 1
        assert await backend.apply(ops, bumped) == []
        result["weight"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        assert await backend.apply(teardown(base, observed), {}) == []
        result["teardown"] = time.perf_counter() - t0
        await backend.close()
    with Netns() as ns:
        backend = IpvsDataPlane(netns=ns)
        await backend.observe()
        t0 = time.perf_counter()
        loaded = load(str(conf))
        assert loaded.config is not None
        desired = compute(loaded.config, {}).table
        assert await backend.apply(plan(desired, await backend.observe(), ()), desired) == []
        result["config"] = time.perf_counter() - t0
        await backend.close()
    return result


def ipvsadm_restore(services: int) -> float:
    rules = ipvsadm_rules(services)
    with Netns() as ns:
        t0 = time.perf_counter()
        subprocess.run(
            ["ip", "netns", "exec", ns, "ipvsadm", "-R"], input=rules, text=True, check=True
        )
        elapsed = time.perf_counter() - t0
        assert count_dests(ns) == services * DESTS
    return elapsed


def keepalived_startup(services: int, conf: Path, workdir: Path) -> float:
    with Netns() as ns:
        argv = ["ip", "netns", "exec", ns, KEEPALIVED, "-n", "-l", "-D", "-C", "-f", str(conf)]
        argv += ["-p", str(workdir / "k.pid"), "-c", str(workdir / "c.pid")]
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        try:
            while count_dests(ns) < services * DESTS:
                if proc.poll() is not None or time.perf_counter() - t0 > 600:
                    raise RuntimeError("keepalived did not program the table")
                time.sleep(0.1)
            elapsed = time.perf_counter() - t0
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=120)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    n, runs = args.services, args.runs
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        conf = work / "keepalived.conf"
        conf.write_text(keepalived_conf(n))
        mine = [asyncio.run(ours(n, conf)) for _ in range(runs)]
        restore = [ipvsadm_restore(n) for _ in range(runs)]
        kad = [keepalived_startup(n, conf, work) for _ in range(runs)]
    version = subprocess.run([KEEPALIVED, "--version"], capture_output=True, text=True)
    kv = (version.stdout + version.stderr).splitlines()[0]
    print(f"# LVS apply (IPVS): {n} services x {DESTS} real servers (NAT, wrr), {runs} runs")
    print(f"# kernel {platform.release()}, {kv}, Python {platform.python_version()}")
    rows = [
        ("pykeepalived: apply of the plan (IpvsDataPlane)", [r["apply"] for r in mine]),
        (
            "pykeepalived: config file -> kernel (load+compute+plan+apply)",
            [r["config"] for r in mine],
        ),
        ("ipvsadm -R of the same rules", restore),
        ("keepalived 2.2.7 start-up until ipvsadm -Ln shows all", kad),
        ("  of which: plan + encoding the 5,000 messages (pyroute2)", [r["encode"] for r in mine]),
        ("pykeepalived: observe() (dump all services and dests)", [r["observe"] for r in mine]),
        ("pykeepalived: no-op plan against the observed table", [r["noop"] for r in mine]),
        ("pykeepalived: one weight change (plan + 1 op)", [r["weight"] for r in mine]),
        ("pykeepalived: teardown (1,000 service deletes)", [r["teardown"] for r in mine]),
    ]
    for name, times in rows:
        print(f"{name:64s} {fmt(times)}")
    apply_s = statistics.median(r["apply"] for r in mine)
    config_s = statistics.median(r["config"] for r in mine)
    print(
        f"ratio ipvsadm -R / pykeepalived apply:        {statistics.median(restore) / apply_s:6.2f}"
    )
    print(
        f"ratio keepalived start-up / pykeepalived apply: {statistics.median(kad) / apply_s:6.2f}"
    )
    print(
        "ratio keepalived start-up / pykeepalived config->kernel: "
        f"{statistics.median(kad) / config_s:6.2f}"
    )


if __name__ == "__main__":
    main()
