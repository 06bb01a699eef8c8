"""The lab's topology: the seed's five hosts as network namespaces on one bridge.

Rules: everything the lab creates is recorded in a state file before it is created, so that
``lab down`` removes exactly that (namespaces by name, processes by PID) and nothing else, even
after a crash half-way through ``lab up``. The hosts' link is ``eth1`` as in the seed.
"""

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path

from pykeepalived import pidfile

STATE_DIR = Path(os.environ.get("PYKEEPALIVED_LAB_DIR", "/run/pykeepalived-lab"))
VIP = "192.168.88.100"
HOSTS = {
    "client": "192.168.88.2",
    "keepalived": "192.168.88.8",
    "keepalived-backup": "192.168.88.9",
    "node-1": "192.168.88.10",
    "node-2": "192.168.88.11",
}
DIRECTORS = ("keepalived", "keepalived-backup")
WEB_NODES = ("node-1", "node-2")
API_PORT = 8080  # on each director's loopback (its own namespace)
CONFIGS = {"keepalived": "keepalived-master.conf", "keepalived-backup": "keepalived-backup.conf"}
DAEMONS = ("pykeepalived", "keepalived")  # what runs on the directors (keepalived: the bench)
KEEPALIVED = "/usr/sbin/keepalived"


class LabError(Exception):
    """The lab cannot do what was asked; the message says why."""


def run(*argv: str, timeout: float = 15.0, check: bool = True) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    if check and done.returncode != 0:
        raise LabError(f"{' '.join(argv)}: {done.stderr.strip() or done.returncode}")
    return done.stdout


@dataclass
class LabState:
    prefix: str
    namespaces: list[str] = field(default_factory=list)
    pids: dict[str, int] = field(default_factory=dict)
    backend: str = ""
    daemon: str = "pykeepalived"

    def ns(self, host: str) -> str:
        return f"{self.prefix}-{host}"

    @property
    def dir(self) -> Path:
        return STATE_DIR

    def save(self) -> None:
        STATE_DIR.mkdir(parents=True, exist_ok=True)
        (STATE_DIR / "state.json").write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls) -> "LabState | None":
        path = STATE_DIR / "state.json"
        if not path.exists():
            return None
        return cls(**json.loads(path.read_text()))

    def exec(self, host: str, *argv: str, timeout: float = 15.0, check: bool = True) -> str:
        return run("ip", "netns", "exec", self.ns(host), *argv, timeout=timeout, check=check)

    def spawn(self, name: str, host: str, *argv: str, log: Path) -> int:
        """Start a process in ``host``'s namespace, record its PID under ``name``."""
        out = open(log, "ab")  # noqa: SIM115 - handed to the child
        proc = subprocess.Popen(
            ["ip", "netns", "exec", self.ns(host), *argv],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        out.close()
        self.pids[name] = proc.pid
        self.save()
        return proc.pid

    def kill(self, name: str, sig: signal.Signals = signal.SIGTERM, wait_s: float = 10.0) -> None:
        pid = self.pids.pop(name, None)
        self.save()
        if pid is None:
            return
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done = pid if not _alive(pid) else 0
            if done:
                return
            time.sleep(0.02)
        os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def up(
    log: Callable[[str], None], daemon: str = "pykeepalived", *, directors: bool = True
) -> LabState:
    """Build the topology, start the web nodes and (unless ``directors`` is false) both
    directors: pykeepalived, or Debian's keepalived for a side-by-side run (``daemon``)."""
    if os.geteuid() != 0:
        raise LabError("the lab needs root (network namespaces); run it with sudo")
    if daemon not in DAEMONS:
        raise LabError(f"unknown director daemon {daemon!r} (one of {', '.join(DAEMONS)})")
    if daemon == "keepalived" and not os.access(KEEPALIVED, os.X_OK):
        raise LabError(f"{KEEPALIVED} missing (apt-get install keepalived)")
    if LabState.load() is not None:
        raise LabError(f"a lab is already up (state in {STATE_DIR}); run 'pykeepalived lab down'")
    state = LabState(prefix=f"pklab{secrets.token_hex(2)}", daemon=daemon)
    state.save()
    _wire(state)
    for node in WEB_NODES:
        _web_node(state, node)
    for director in DIRECTORS:
        _director(state, director, start=directors)
    log(f"lab up: namespaces {', '.join(state.namespaces)}")
    return state


def _wire(state: LabState) -> None:
    switch = "switch"
    state.namespaces.append(state.ns(switch))
    state.save()
    run("ip", "netns", "add", state.ns(switch))
    state.exec(switch, "ip", "link", "add", "br0", "type", "bridge")
    state.exec(switch, "ip", "link", "set", "br0", "up")
    for n, (host, address) in enumerate(HOSTS.items()):
        state.namespaces.append(state.ns(host))
        state.save()
        run("ip", "netns", "add", state.ns(host))
        port = f"port{n}"
        state.exec(switch, "ip", "link", "add", port, "type", "veth", "peer", "name", "eth1",
                   "netns", state.ns(host))  # fmt: skip
        state.exec(switch, "ip", "link", "set", port, "master", "br0", "up")
        state.exec(host, "ip", "link", "set", "lo", "up")
        state.exec(host, "ip", "addr", "add", f"{address}/24", "dev", "eth1")
        state.exec(host, "ip", "link", "set", "eth1", "up")


def _web_node(state: LabState, node: str) -> None:
    python = sys.executable
    state.exec(node, python, "-m", "pykeepalived", "realserver", "up", "--vip", VIP)
    start_web(state, node)


def start_web(state: LabState, node: str) -> None:
    python = sys.executable
    argv = (python, "-m", "pykeepalived.lab.web", "--ip", HOSTS[node],
            "--log", str(STATE_DIR / f"{node}.access"))  # fmt: skip
    state.spawn(f"web:{node}", node, *argv, log=STATE_DIR / f"{node}.log")


def _director(state: LabState, director: str, *, start: bool) -> None:
    seed = resources.files("pykeepalived.lab") / "seed" / CONFIGS[director]
    conf = STATE_DIR / f"{director}.conf"
    conf.write_text(seed.read_text())
    if start:
        start_director(state, director)


def pid_files(director: str) -> tuple[Path, Path, Path]:
    """The director's -p (main), -r (VRRP) and -c (checkers) pid files."""
    return (STATE_DIR / f"{director}.pid", STATE_DIR / f"{director}.vrrp.pid",
            STATE_DIR / f"{director}.checkers.pid")  # fmt: skip


def director_argv(state: LabState, director: str) -> list[str]:
    """keepalived's own command line (as its systemd unit and init scripts start it), the same
    for both daemons; pykeepalived also serves its API on 127.0.0.1:API_PORT in the director's
    namespace."""
    main, vrrp, checkers = (str(p) for p in pid_files(director))
    flags = ["-n", "-l", "-D", "-f", str(STATE_DIR / f"{director}.conf"),
             "-p", main, "-r", vrrp, "-c", checkers]  # fmt: skip
    if state.daemon == "keepalived":
        return [KEEPALIVED, *flags]
    token = STATE_DIR / "api.token"
    if not token.exists():
        fd = os.open(token, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(16) + "\n")
    api = ["--api", f"127.0.0.1:{API_PORT}", "--api-token-file", str(token)]
    return [sys.executable, "-m", "pykeepalived", *flags, *api]


def start_director(state: LabState, director: str) -> None:
    argv = director_argv(state, director)
    state.spawn(f"director:{director}", director, *argv, log=STATE_DIR / f"{director}.log")


def stop_director(state: LabState, director: str, wait_s: float = 30.0) -> None:
    """The graceful stop an operator does: SIGTERM to the pid in the director's -p file, then
    wait for the daemon to exit. The file must name the daemon the lab started (``ip netns
    exec`` execs it, so that is the spawned pid); if not, the lab stops it anyway and says so."""
    name = f"director:{director}"
    started = state.pids.get(name)
    main = pid_files(director)[0]
    written = pidfile.pid_in(str(main))
    state.kill(name, signal.SIGTERM, wait_s=wait_s)
    if written != started:
        raise LabError(f"{director}: the pid file {main} names {written}, not the daemon the lab "
                       f"started (pid {started})")  # fmt: skip


def down(log: Callable[[str], None]) -> None:
    if os.geteuid() != 0:
        raise LabError("the lab needs root (network namespaces); run it with sudo")
    state = LabState.load()
    if state is None:
        log("no lab is up")
        return
    for name in sorted(state.pids, key=lambda n: not n.startswith("director:")):
        state.kill(name)
    for ns in reversed(state.namespaces):
        run("ip", "netns", "del", ns, check=False)
    for path in STATE_DIR.glob("*"):
        path.unlink()
    STATE_DIR.rmdir()
    log(f"lab down: removed {len(state.namespaces)} namespaces")
