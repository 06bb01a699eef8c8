"""Helpers for the IPVS backend tests in the VM: namespaces, ipvsadm, keepalived side by side.

Each IPVS table is per network namespace, so every scenario gets namespaces of its own.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

KEEPALIVED = Path("/usr/sbin/keepalived")


def sh(*argv: str, netns: str | None = None, check: bool = True, stdin: str | None = None) -> str:
    prefix = ["ip", "netns", "exec", netns] if netns else []
    done = subprocess.run(
        [*prefix, *argv], input=stdin, capture_output=True, text=True, timeout=120, check=False
    )
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(argv)}: exit {done.returncode}: {done.stderr.strip()}")
    return done.stdout


@contextlib.contextmanager
def namespace(tag: str = "ipvs") -> Iterator[str]:
    name = f"{tag}-{uuid.uuid4().hex[:6]}"
    sh("ip", "netns", "add", name)
    sh("ip", "link", "set", "lo", "up", netns=name)
    try:
        yield name
    finally:
        sh("ip", "netns", "del", name, check=False)


def rules(netns: str) -> list[str]:
    """``ipvsadm -Sn``, sorted: the table as commands."""
    return sorted(line for line in sh("ipvsadm", "-Sn", netns=netns).splitlines() if line)


def listing(netns: str, *extra: str) -> str:
    return sh("ipvsadm", "-Ln", *extra, netns=netns)


def by_service(text: str) -> dict[str, list[str]]:
    """An ``ipvsadm -Ln`` listing cut into services: first line -> its lines, sorted.

    ipvsadm lists services in hash-table order, which depends on nothing we control, so
    the comparison is service by service.
    """
    services: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if line.startswith(("TCP ", "UDP ", "SCTP ", "FWM ")):
            current = services.setdefault(" ".join(line.split()), [])
        elif current is not None and line.strip().startswith("->"):
            current.append(" ".join(line.split()))
    return {k: sorted(v) for k, v in services.items()}


@contextlib.contextmanager
def keepalived(
    netns: str, conf: Path, workdir: Path, subsystem: str = "-C"
) -> Iterator[subprocess.Popen[bytes]]:
    """Debian's keepalived in ``netns`` (``-C``: checker only, ``-P``: VRRP only); stopped
    (SIGTERM) on exit."""
    argv = ["ip", "netns", "exec", netns, str(KEEPALIVED), "-n", "-l", "-D", subsystem]
    argv += ["-f", str(conf), "-p", str(workdir / "k.pid"), "-c", str(workdir / "c.pid")]
    argv += ["-r", str(workdir / "v.pid")]
    log = (workdir / "keepalived.log").open("w")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()


def wait_for(netns: str, dests: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    """Until ``ipvsadm -Ln`` in ``netns`` lists ``dests`` real servers, stable for 1 s."""
    deadline = time.monotonic() + 90
    seen, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        count = sum(len(v) for v in by_service(listing(netns)).values())
        if count != seen:
            seen, since = count, time.monotonic()
        elif count == dests and time.monotonic() - since >= 1.0:
            return
        time.sleep(0.3)
    raise AssertionError(
        f"keepalived programmed {seen} real servers, not {dests}:\n" + log.read_text()
    )
