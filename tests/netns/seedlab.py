"""The seed topology in network namespaces, for the data-plane tests.

Five namespaces with a random prefix (``pk<6 hex>-br`` holds the bridge; ``-client``,
``-dir``, ``-web1``, ``-web2`` one ``eth0`` each on it): client 192.168.88.2, director
192.168.88.8 with the VIP 192.168.88.100/24, real servers 192.168.88.10 and .11, each
running ``nsweb.py``; the same in IPv6 (``fd88::2``, ``::8``, VIP ``::100``, ``::10``,
``::11``, no DAD). The mode decides the real servers' side:

* ``dr``: VIP on ``lo`` (/32), ``arp_ignore=1``, ``arp_announce=2``; the director does not
  route (``ip_forward=0``), so whatever reaches a web server was forwarded as a frame and
  every answer goes from the web server straight to the client.
* ``nat``: no VIP; the web servers' address is a /32 with the director as default route, so
  answers come back through the director (which routes, without ICMP redirects).

Everything is removed by name on exit, even after a failure; traffic stays inside.
"""

import contextlib
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).parent
CLIENT, DIRECTOR, VIP = "192.168.88.2", "192.168.88.8", "192.168.88.100"
WEBS = ("192.168.88.10", "192.168.88.11")  # also what each web server answers
CLIENT6, DIRECTOR6, VIP6 = "fd88::2", "fd88::8", "fd88::100"
WEBS6 = ("fd88::10", "fd88::11")


def run(*argv: str, timeout: float = 10.0, stdin: str | None = None) -> str:
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=timeout, check=False, input=stdin
    )
    if done.returncode:
        raise RuntimeError(f"{' '.join(argv)}: {done.stderr.strip()}")
    return done.stdout


@dataclass
class SeedLab:
    prefix: str
    mode: str
    logs: dict[str, Path]
    family: int = 4  # which addresses the test uses (both are configured)

    @property
    def vip(self) -> str:
        return VIP if self.family == 4 else VIP6

    @property
    def client_addr(self) -> str:
        return CLIENT if self.family == 4 else CLIENT6

    def addr_of(self, web: str) -> str:
        """The address (in the test's family) of the web server that answers ``web``."""
        return web if self.family == 4 else WEBS6[WEBS.index(web)]

    def ns(self, node: str) -> str:
        return f"{self.prefix}-{node}"

    def in_ns(self, node: str, *argv: str, timeout: float = 10.0, stdin: str | None = None) -> str:
        return run("ip", "netns", "exec", self.ns(node), *argv, timeout=timeout, stdin=stdin)

    def client(self, *args: str, timeout: float = 60.0) -> str:
        script = str(HERE / "nsclient.py")
        return self.in_ns("client", sys.executable, script, *args, timeout=timeout)

    def client_background(self, *args: str) -> "subprocess.Popen[str]":
        argv = ["ip", "netns", "exec", self.ns("client"), sys.executable, str(HERE / "nsclient.py")]
        return subprocess.Popen([*argv, *args], stdout=subprocess.PIPE, text=True)

    def mac(self, node: str) -> str:
        return self.in_ns(node, "cat", "/sys/class/net/eth0/address").strip()

    def seen_by(self, web: str) -> list[tuple[str, int, str]]:
        """(client address, client port, path) of every connection ``web`` accepted."""
        rows = []
        for line in self.logs[web].read_text().splitlines():
            addr, port, path = line.split()
            rows.append((addr, int(port), path))
        return rows


def _sysctl(lab: SeedLab, node: str, *settings: str) -> None:
    for setting in settings:
        lab.in_ns(node, "sysctl", "-qw", setting)


def _wire(lab: SeedLab, nodes: Sequence[str]) -> None:
    run("ip", "netns", "add", lab.ns("br"))
    lab.in_ns("br", "ip", "link", "add", "br0", "type", "bridge")
    lab.in_ns("br", "ip", "link", "set", "br0", "up")
    for node in nodes:
        run("ip", "netns", "add", lab.ns(node))
        lab.in_ns(
            "br", "ip", "link", "add", f"v-{node}", "type", "veth",
            "peer", "name", "eth0", "netns", lab.ns(node),
        )  # fmt: skip
        lab.in_ns("br", "ip", "link", "set", f"v-{node}", "master", "br0", "up")
        lab.in_ns(node, "ip", "link", "set", "lo", "up")
        lab.in_ns(node, "ip", "link", "set", "eth0", "up")


def _addresses(lab: SeedLab) -> None:
    _address(lab, "client", f"{CLIENT}/24", f"{CLIENT6}/64")
    _address(lab, "dir", f"{DIRECTOR}/24", f"{DIRECTOR6}/64")
    _address(lab, "dir", f"{VIP}/24", f"{VIP6}/64")
    for web, addr, addr6 in zip(("web1", "web2"), WEBS, WEBS6, strict=True):
        if lab.mode == "dr":
            _address(lab, web, f"{addr}/24", f"{addr6}/64")
            lab.in_ns(web, "ip", "addr", "add", f"{VIP}/32", "dev", "lo")
            lab.in_ns(web, "ip", "-6", "addr", "add", f"{VIP6}/128", "dev", "lo")
            for scope in ("all", "eth0"):
                _sysctl(lab, web, f"net.ipv4.conf.{scope}.arp_ignore=1")
                _sysctl(lab, web, f"net.ipv4.conf.{scope}.arp_announce=2")
        else:
            _address(lab, web, f"{addr}/32", f"{addr6}/128")
            lab.in_ns(web, "ip", "route", "add", DIRECTOR, "dev", "eth0")
            lab.in_ns(web, "ip", "route", "add", "default", "via", DIRECTOR)
            lab.in_ns(web, "ip", "-6", "route", "add", DIRECTOR6, "dev", "eth0")
            lab.in_ns(web, "ip", "-6", "route", "add", "default", "via", DIRECTOR6)
            # IPv6 has no send_redirects switch on the director: refuse them here.
            for scope in ("all", "eth0"):
                _sysctl(lab, web, f"net.ipv6.conf.{scope}.accept_redirects=0")
    forward = "1" if lab.mode == "nat" else "0"
    _sysctl(lab, "dir", f"net.ipv4.ip_forward={forward}")
    _sysctl(lab, "dir", f"net.ipv6.conf.all.forwarding={forward}")
    for scope in ("all", "default", "eth0"):
        _sysctl(lab, "dir", f"net.ipv4.conf.{scope}.send_redirects=0")


def _address(lab: SeedLab, node: str, v4: str, v6: str) -> None:
    lab.in_ns(node, "ip", "addr", "add", v4, "dev", "eth0")
    lab.in_ns(node, "ip", "-6", "addr", "add", v6, "dev", "eth0", "nodad")


def _start_web(lab: SeedLab, web: str, addr: str, procs: list["subprocess.Popen[str]"]) -> None:
    # UDP answers must leave from the address asked: the VIP in DR (a socket bound to it).
    udp = [VIP, VIP6] if lab.mode == "dr" else ["::"]  # "::" takes IPv4 too
    argv = [sys.executable, str(HERE / "nsweb.py"), addr, "80", str(lab.logs[web]), *udp]
    proc = subprocess.Popen(
        ["ip", "netns", "exec", lab.ns(web), *argv], stdout=subprocess.PIPE, text=True
    )
    procs.append(proc)
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "ready":
        raise RuntimeError(f"web server in {lab.ns(web)} did not start")


@contextlib.contextmanager
def seed_lab(mode: str, tmp: Path, family: int = 4) -> Iterator[SeedLab]:
    prefix = f"pk{secrets.token_hex(3)}"
    logs = {web: tmp / f"{web}.log" for web in ("web1", "web2")}
    lab = SeedLab(prefix=prefix, mode=mode, logs=logs, family=family)
    nodes = ("client", "dir", "web1", "web2")
    procs: list[subprocess.Popen[str]] = []
    try:
        _wire(lab, nodes)
        _addresses(lab)
        for web, addr in zip(("web1", "web2"), WEBS, strict=True):
            _start_web(lab, web, addr, procs)
        time.sleep(0.2)  # let DAD-free IPv4 settle; ARP is resolved on first use
        yield lab
    finally:
        for proc in procs:
            proc.kill()
            proc.wait(timeout=10)
            if proc.stdout is not None:
                proc.stdout.close()
        for node in ("br", *nodes):
            subprocess.run(["ip", "netns", "del", lab.ns(node)], capture_output=True, check=False)
