"""The active-active lab: an ECMP router (BIRD 2), three directors announcing the VIP over BGP,
two web servers (DR), one client behind the router.

    client 192.168.89.2 --- 192.168.89.1 router 192.168.88.1 ---+--- dir-1 .21  dir-2 .22  dir-3 .23
                                                                  +--- web-1 .10  web-2 .11
VIP 192.168.99.100 is on no link: the router reaches it only through the directors' BGP
paths (one ECMP route), each director forwards the unchanged frame to the web server its
Maglev table picks (nftables DR, ``meta pkttype host``), and the web servers answer the
client straight through the router.

Rules: everything is recorded in the lab's state file before it is created (``LabState``), so
``pykeepalived lab down`` removes exactly that; processes are killed by PID. The router's
multipath hash has a fixed seed, and the client binds fixed source ports: every run hashes
the same flows to the same directors.
"""

import datetime
import itertools
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pykeepalived.lab import topology
from pykeepalived.lab.router import DIRECTOR_AS, ROUTER_AS, SYSCTLS, RouterSpec, render
from pykeepalived.lab.topology import LabError, LabState, run

VIP = "192.168.99.100"
CLIENT, ROUTER_OUT, ROUTER_LAN = "192.168.89.2", "192.168.89.1", "192.168.88.1"
DIRECTORS = {"dir-1": "192.168.88.21", "dir-2": "192.168.88.22", "dir-3": "192.168.88.23"}
WEBS = {"web-1": "192.168.88.10", "web-2": "192.168.88.11"}
SEED = 0x706B6C76
ROUTER_HASH_SEED = "0x5eed"  # fib_multipath_hash_seed: the same ECMP choice on every run
BREAK_TABLE = "pkaa_break"


def director_conf(
    name: str, lab_dir: Path, *, speaker: str = "exabgp", seed: int = SEED, bfd: bool = False
) -> str:
    """A director's keepalived.conf: one DR service on the VIP, Maglev with the port, quick
    TCP checks, and the bgp_speaker block (identical on every director but for addresses)."""
    real = "".join(
        f"    real_server {ip} 80 {{\n        weight 1\n        inhibit_on_failure\n"
        "        TCP_CHECK {\n"
        "            connect_timeout 1\n            retry 0\n        }\n    }\n"
        for ip in WEBS.values()
    )
    bfd_line = "    bfd\n" if bfd else ""
    return (
        f"global_defs {{\n    router_id {name}\n    lvs_hash_seed {seed:#x}\n}}\n"
        f"virtual_server {VIP} 80 {{\n    delay_loop 1\n    lb_algo mh\n    mh-port\n"
        f"    lb_kind DR\n    protocol TCP\n{real}}}\n"
        f"bgp_speaker {{\n    speaker {speaker}\n    local_as {DIRECTOR_AS}\n"
        f"    local_address {DIRECTORS[name]}\n    hold_time 3\n{bfd_line}"
        f"    announce_delay 0.5\n    state_dir {lab_dir / name}\n"
        f"    neighbor {ROUTER_LAN} {{\n        peer_as {ROUTER_AS}\n    }}\n"
        f"    announce {{\n        {VIP}\n    }}\n}}\n"
    )


@dataclass
class ActiveActive:
    state: LabState
    speaker: str = "exabgp"
    bfd: bool = False
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def spawn(self, name: str, host: str, *argv: str, log: Path) -> None:
        """As ``LabState.spawn`` (PID recorded first), keeping the ``Popen`` so that it is
        reaped, never dropped while its process runs."""
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                ["ip", "netns", "exec", self.state.ns(host), *argv],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )  # fmt: skip
        self.procs[name] = proc
        self.state.pids[name] = proc.pid
        self.state.save()

    def kill(self, name: str, sig: signal.Signals = signal.SIGTERM) -> None:
        self.state.kill(name, sig)
        proc = self.procs.pop(name, None)
        if proc is not None:
            proc.poll()  # reaped by LabState.kill: this records it

    # -- building --------------------------------------------------------------------------

    @classmethod
    def up(cls, log: Callable[[str], None], *, speaker: str = "exabgp") -> "ActiveActive":
        if os.geteuid() != 0:
            raise LabError("the lab needs root (network namespaces); run it with sudo")
        if LabState.load() is not None:
            raise LabError(
                f"a lab is already up (state in {topology.STATE_DIR}); 'pykeepalived lab down'"
            )
        lab = cls(LabState(prefix=f"pkaa{secrets.token_hex(2)}"), speaker, speaker == "bird")
        lab.state.save()
        lab._wire()
        lab._router()
        for web in WEBS:
            lab._web(web)
        for director in DIRECTORS:
            lab.start_director(director)
        log(f"lab up: namespaces {', '.join(lab.state.namespaces)}")
        return lab

    def _host(self, host: str) -> None:
        self.state.namespaces.append(self.state.ns(host))
        self.state.save()
        run("ip", "netns", "add", self.state.ns(host))
        self.state.exec(host, "ip", "link", "set", "lo", "up")

    def _wire(self) -> None:
        self._host("switch")
        self.state.exec("switch", "ip", "link", "add", "br0", "type", "bridge")
        self.state.exec("switch", "ip", "link", "set", "br0", "up")
        self._host("router")
        self._host("client")
        self.state.exec("router", "ip", "link", "add", "eth0", "type", "veth", "peer", "name",
                        "eth1", "netns", self.state.ns("client"))  # fmt: skip
        self._address("router", "eth0", f"{ROUTER_OUT}/24")
        self._address("client", "eth1", f"{CLIENT}/24")
        self.state.exec("client", "ip", "route", "add", "default", "via", ROUTER_OUT)
        lan = {"router": ROUTER_LAN, **DIRECTORS, **WEBS}
        for n, (host, address) in enumerate(lan.items()):
            if host != "router":
                self._host(host)
            port = f"port{n}"
            self.state.exec("switch", "ip", "link", "add", port, "type", "veth", "peer", "name",
                            "eth1", "netns", self.state.ns(host))  # fmt: skip
            self.state.exec("switch", "ip", "link", "set", port, "master", "br0", "up")
            self._address(host, "eth1", f"{address}/24")

    def _address(self, host: str, dev: str, address: str) -> None:
        self.state.exec(host, "ip", "addr", "add", address, "dev", dev)
        self.state.exec(host, "ip", "link", "set", dev, "up")

    def _router(self) -> None:
        for key, value in SYSCTLS.items():
            self.state.exec("router", "sysctl", "-qw", f"{key}={value}")
        seed = "net.ipv4.fib_multipath_hash_seed"
        self.state.exec("router", "sysctl", "-qw", f"{seed}={ROUTER_HASH_SEED}", check=False)
        spec = RouterSpec(router_id=ROUTER_LAN, local=ROUTER_LAN, bfd=self.bfd,
                          peers=list(DIRECTORS.items()))  # fmt: skip
        conf = self.state.dir / "router-bird.conf"
        conf.write_text(render(spec))
        ctl = str(self.state.dir / "router-bird.ctl")
        argv = ("bird", "-f", "-c", str(conf), "-s", ctl)
        self.spawn("bird:router", "router", *argv, log=self.state.dir / "router.log")

    def _web(self, web: str) -> None:
        self.state.exec(web, "ip", "route", "add", "default", "via", ROUTER_LAN)
        self.state.exec(web, sys.executable, "-m", "pykeepalived", "realserver", "up", "--vip", VIP)
        argv = (sys.executable, "-m", "pykeepalived.lab.web", "--ip", WEBS[web])
        self.spawn(f"web:{web}", web, *argv, log=self.state.dir / f"{web}.log")

    def start_director(self, name: str, seed: int = SEED) -> None:
        (self.state.dir / name).mkdir(parents=True, exist_ok=True)
        conf = self.state.dir / f"{name}.conf"
        conf.write_text(
            director_conf(name, self.state.dir, speaker=self.speaker, seed=seed, bfd=self.bfd)
        )
        argv = (sys.executable, "-m", "pykeepalived", "-n", "-l", "-f", str(conf))
        self.spawn(f"director:{name}", name, *argv, log=self.state.dir / f"{name}.log")

    def stop_director(self, name: str, sig: signal.Signals = signal.SIGTERM) -> None:
        self.kill(f"director:{name}", sig)

    # -- looking -----------------------------------------------------------------------------

    def paths(self) -> set[str]:
        """The directors the router's route to the VIP goes through, by name."""
        out = self.state.exec("router", "ip", "-4", "route", "show", VIP, check=False)
        names = {address: name for name, address in DIRECTORS.items()}
        words = out.split()
        return {names.get(w, w) for a, w in itertools.pairwise(words) if a == "via"}

    def wait_paths(
        self, want: Iterable[str], timeout_s: float, poll_s: float = 0.01
    ) -> float | None:
        """Seconds until the router's paths are exactly ``want`` (None: not within the bound)."""
        target, start = set(want), time.monotonic()
        while time.monotonic() - start < timeout_s:
            if self.paths() == target:
                return time.monotonic() - start
            time.sleep(poll_s)
        return None

    def has_table(self, name: str) -> bool:
        out = self.state.exec(name, "nft", "list", "tables", check=False)
        return "pykeepalived" in out

    def flows(self, name: str) -> set[int]:
        """Client source ports in the director's DR flow sets (the flows it forwarded)."""
        out = self.state.exec(name, "nft", "list", "table", "netdev", "pykeepalived", check=False)
        ports: set[int] = set()
        for part in out.replace(",", " ").replace("{", " ").split(f"{CLIENT} . ")[1:]:
            head = part.split()[0]
            if head.isdigit():
                ports.add(int(head))
        return ports

    def log_times(self, name: str, text: str) -> list[float]:
        """Wall-clock times of the director's log lines that contain ``text``."""
        times = []
        for line in (self.state.dir / f"{name}.log").read_text(errors="replace").splitlines():
            if text in line:
                try:
                    stamp = datetime.datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")
                except ValueError:
                    continue
                times.append(stamp.timestamp())
        return times

    # -- acting -----------------------------------------------------------------------------

    def break_checks(self, name: str) -> None:
        """The director's health checks fail (its own connections to port 80 are refused);
        the traffic it forwards is not touched (that never passes its output hook)."""
        script = (
            f"add table inet {BREAK_TABLE}\n"
            f"add chain inet {BREAK_TABLE} out {{ type filter hook output priority 0; }}\n"
            f"add rule inet {BREAK_TABLE} out tcp dport 80 reject with tcp reset\n"
        )
        self.state.exec(name, "sh", "-c", f"printf '{script}' | nft -f -")

    def heal_checks(self, name: str) -> None:
        self.state.exec(name, "nft", "delete", "table", "inet", BREAK_TABLE, check=False)

    def client(self, *args: str, timeout: float = 60.0) -> str:
        argv = (sys.executable, "-m", "pykeepalived.lab.streams", "--vip", VIP, *args)
        return self.state.exec("client", *argv, timeout=timeout)

    def start_streams(self, seconds: float, ports: Iterable[int]) -> "StreamRun":
        argv = ["ip", "netns", "exec", self.state.ns("client"), sys.executable, "-m",
                "pykeepalived.lab.streams", "--vip", VIP, "streams", "--seconds", str(seconds),
                "--ports", ",".join(str(p) for p in ports)]  # fmt: skip
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        return StreamRun(proc, seconds)


@dataclass
class StreamRun:
    """Downloads running in the client; ``result`` waits for them."""

    proc: subprocess.Popen[str]
    seconds: float

    def result(self) -> list[dict[str, object]]:
        out, err = self.proc.communicate(timeout=self.seconds + 60)
        if self.proc.returncode != 0:
            raise LabError(f"streams failed: {err.strip()}")
        streams: list[dict[str, object]] = json.loads(out)["streams"]
        return streams


def is_active_active(state: LabState) -> bool:
    return state.prefix.startswith("pkaa")


def down(log: Callable[[str], None], lab: ActiveActive | None = None) -> None:
    """Remove the lab: directors first (they withdraw), then every process and namespace
    recorded in the state file, then the state directory (configs, logs, speakers' files)."""
    state = LabState.load()
    if state is None:
        log("no lab is up")
        return
    for name in sorted(state.pids, key=lambda n: not n.startswith("director:")):
        if lab is not None:
            lab.state = state
            lab.kill(name)
        else:
            state.kill(name)
    for ns in reversed(state.namespaces):
        run("ip", "netns", "del", ns, check=False)
    shutil.rmtree(state.dir, ignore_errors=True)
    log(f"lab down: removed {len(state.namespaces)} namespaces")


@dataclass
class RouteWatch:
    """``ip -ts monitor route`` in the router: when the kernel's route to the VIP changed,
    to the microsecond, without the lag of polling."""

    proc: subprocess.Popen[str]

    @classmethod
    def start(cls, lab: ActiveActive) -> "RouteWatch":
        argv = ["ip", "-n", lab.state.ns("router"), "-ts", "monitor", "route"]
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        time.sleep(0.2)  # subscribed before anything happens
        return cls(proc)

    def stop(self) -> list[tuple[float, bool, set[str]]]:
        """(wall time, deleted, directors) for every change of the VIP's route."""
        self.proc.terminate()
        out, _ = self.proc.communicate(timeout=10)
        names = {address: name for name, address in DIRECTORS.items()}
        events: list[tuple[float, bool, set[str]]] = []
        for block in out.split("\n["):
            stamp, _, text = block.lstrip("[").partition("] ")
            words = text.split()
            deleted = bool(words) and words[0] == "Deleted"
            if VIP not in words[:2]:
                continue
            hops = {names.get(w, w) for a, w in itertools.pairwise(words) if a == "via"}
            when = datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%f").timestamp()
            events.append((when, deleted, hops))
        return events

    def stop_and_find_gone(self, victim: str, after: float) -> float | None:
        """When ``victim``'s path left the route (the first change after ``after``)."""
        for when, deleted, hops in self.stop():
            if when >= after and ((victim not in hops) != deleted):
                return when
        return None
