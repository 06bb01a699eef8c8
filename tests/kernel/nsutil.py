"""Network namespaces for tests: created with a random prefix, removed by name.

Every name starts with a random prefix so parallel runs never collide; ``Lan`` removes exactly
the namespaces it created. ``inside(ns)`` runs the calling thread in a namespace, so sockets and
netlink handles opened there belong to it.
"""

import contextlib
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field

from pyroute2.netns import popns, pushns


def run(*argv: str, ns: str | None = None, check: bool = True) -> str:
    cmd = (["ip", "netns", "exec", ns] if ns else []) + list(argv)
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {done.stderr.strip()}")
    return done.stdout


@contextlib.contextmanager
def inside(ns: str) -> Iterator[None]:
    pushns(ns)
    try:
        yield
    finally:
        popns()


@dataclass
class Lan:
    """Hosts (namespaces) on one bridge; the bridge lives in a namespace of its own."""

    prefix: str = field(default_factory=lambda: "pk" + secrets.token_hex(3))
    hosts: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.switch = f"{self.prefix}-sw"
        run("ip", "netns", "add", self.switch)
        run("ip", "link", "add", "br0", "type", "bridge", ns=self.switch)
        run("ip", "link", "set", "br0", "up", ns=self.switch)

    def host(self, name: str, *addresses: str, ifname: str = "eth1", nodad: bool = False) -> str:
        """A namespace ``<prefix>-<name>`` with ``ifname`` on the bridge; ``nodad``: IPv6
        duplicate address detection off before the link comes up, so its link-local address
        is usable at once."""
        ns = f"{self.prefix}-{name}"
        run("ip", "netns", "add", ns)
        self.hosts.append(ns)
        port = f"p{len(self.hosts)}"
        run(
            "ip",
            "link",
            "add",
            port,
            "type",
            "veth",
            "peer",
            "name",
            ifname,
            "netns",
            ns,
            ns=self.switch,
        )
        run("ip", "link", "set", port, "master", "br0", "up", ns=self.switch)
        run("ip", "link", "set", "lo", "up", ns=ns)
        for address in addresses:
            run("ip", "addr", "add", address, "dev", ifname, "nodad", ns=ns)
        if nodad:
            run("sysctl", "-qw", f"net.ipv6.conf.{ifname}.accept_dad=0", ns=ns)
        run("ip", "link", "set", ifname, "up", ns=ns)
        return ns

    def close(self) -> None:
        for ns in [*self.hosts, self.switch]:
            run("ip", "netns", "del", ns, check=False)
        self.hosts.clear()
