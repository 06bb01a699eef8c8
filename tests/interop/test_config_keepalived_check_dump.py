"""The LVS side of the config corpus read by keepalived itself: its checker dump agrees with us.

For every corpus case with virtual servers, Debian's keepalived 2.2.7 runs its checker process
(``--check``, config id ``lb1``) in a network namespace of its own and dumps what it parsed,
with its inheritance resolved (virtual server -> real server -> checker, then the checker
type's default). Marked ``ipvs``: keepalived's checker needs kernel IPVS, so on machines without
it these run inside the QEMU VM (tests/vm). The expectations below apply keepalived 2.2.7's
rules (check_data.c, keepalived.conf(5)) to our model, and the checker layer's own plan
(``check.from_config.build``) must give keepalived's timings as well:

* real server: ``alpha``, ``inhibit_on_failure``, ``connect_timeout``, ``delay_loop``,
  ``retry``, ``delay_before_retry``, ``warmup`` default to the virtual server's; the
  forwarding method too; ``weight`` to the virtual server's ``weight`` (1);
* SMTP_CHECK: each ``host`` block is one more checker, besides the block's own connection;
* checker: the real server's values, then per type: ``retry`` 1 (DNS_CHECK 3, MISC_CHECK 0),
  ``delay_before_retry`` 1 s (HTTP_GET/SSL_GET 3 s, DNS_CHECK its ``delay_loop``), ``warmup``
  its ``delay_loop``.
"""

import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tests.config.test_corpus import CASES, CONFIG_ID, _load, _path
from tests.kernel.nsutil import run

from pykeepalived.check.from_config import CheckerKey, build
from pykeepalived.config.model import KeepalivedConfig
from pykeepalived.config.model_check import AnyChecker, DnsCheck, HttpGet, MiscCheck, SmtpCheck
from pykeepalived.config.model_lvs import LvsMethod, RealServer, VirtualServer

pytestmark = [pytest.mark.ipvs, pytest.mark.root, pytest.mark.slow]
KEEPALIVED = "/usr/sbin/keepalived"
_STARTED = re.compile(r"Activating .*healthchecker|Startup complete|Gained quorum")
_DONE = "------< Health checkers >------"
_VALUE = re.compile(r"^ {3,5}([A-Za-z][^=]*?) = (.*)$")
_SWITCH = re.compile(r"^   (Alpha|alpha|Inhibit on failure) is (\w+)")


def _lvs_cases() -> list[str]:
    return [case for case in CASES if _config(case).virtual_server]


def _config(case: str) -> KeepalivedConfig:
    config = _load(case).config
    assert config is not None
    return config


@pytest.fixture
def namespace() -> Iterator[str]:
    if not shutil.which(KEEPALIVED):
        pytest.skip(f"{KEEPALIVED} is not installed")
    ns = "pkchk" + secrets.token_hex(3)
    run("ip", "netns", "add", ns)
    try:
        run("ip", "link", "set", "lo", "up", ns=ns)
        yield ns
    finally:
        run("ip", "netns", "del", ns, check=False)


def _keepalived_dump(ns: str, case: str, workdir: Path) -> list[str]:
    """keepalived's checker writes what it parsed to ``$TMPDIR/keepalived_check.data`` on
    SIGUSR1 (a file of its own: ``-d`` would interleave it with the BFD process's dump)."""
    log, dump, pid_file = (
        workdir / "keepalived.log",
        workdir / "keepalived_check.data",
        workdir / "c.pid",
    )
    argv = ["ip", "netns", "exec", ns, KEEPALIVED, "-n", "-l", "-D", "--check"]
    argv += ["-i", CONFIG_ID, "-f", str(_path(case))]
    argv += ["-p", str(workdir / "k.pid"), "-c", str(pid_file)]
    env = {**os.environ, "TMPDIR": str(workdir)}
    with log.open("w") as out:  # `ip netns exec` execs: this PID is keepalived's
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        _wait(lambda: _STARTED.search(log.read_text(errors="replace")) is not None, 30)
        if pid_file.exists():
            os.kill(int(pid_file.read_text().split()[0]), signal.SIGUSR1)
        _wait(lambda: _DONE in (dump.read_text(errors="replace") if dump.exists() else ""), 30)
        time.sleep(0.5)  # the checkers follow the marker
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert dump.exists(), log.read_text(errors="replace")[-3000:]
    return dump.read_text(errors="replace").splitlines()


def _wait(ready: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not ready():
        time.sleep(0.2)


def _sections(lines: list[str]) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """Virtual servers (real servers nested as ``rs<N>.key``) and checkers, in dump order."""
    servers: list[dict[str, str]] = []
    checkers: list[dict[str, str]] = []
    current: dict[str, str] | None = None
    prefix = ""
    for line in lines:
        if m := re.match(r"^ VS (VIP|FWMARK|GROUP) = (.+)$", line):
            head = re.sub(r"^\[(.+)\]:\d+$", r"\1", m.group(2))  # GROUP = [NAME]:0
            current, prefix = {"VS": f"{m.group(1)} {head}"}, ""
            servers.append(current)
        elif m := re.match(r"^   RIP = (\S+), RPORT = (\d+), WEIGHT = (-?\d+)", line):
            if current is not None and "VS" in current:
                prefix = f"rs{sum(k.endswith('.RIP') for k in current)}."
                current[prefix + "RIP"] = f"{m.group(1)} {m.group(2)} {m.group(3)}"
        elif re.match(r"^ (\[.+\]\S*|FWM \d+|\S+) -> \[", line):
            current, prefix = {"checker": line.strip()}, ""
            checkers.append(current)
        elif line.startswith("------<") or re.match(r"^ \S", line):
            current = None
        elif current is not None and (m := _VALUE.match(line) or _SWITCH.match(line)):
            current.setdefault(prefix + m.group(1), m.group(2))
    return servers, checkers


def _method(method: LvsMethod) -> str:
    if method.kind != "TUN":
        return method.kind
    kind = (method.tunnel_type or "ipip").upper()
    text = f"TUN, type = {kind}"
    if kind == "GUE":
        text += f", port = {method.tunnel_port}"
    csum = {"nocsum": "no checksum", "csum": "checksum", "remcsum": "remote checksum"}
    return text + (f", {csum[method.tunnel_csum]}" if method.tunnel_csum else "")


def _seconds(value: float) -> str:
    return f"{value:.6f}"


def _first(*values: float | int | bool | None) -> float:
    return float(next(v for v in values if v is not None))


def _expected_vs(vs: VirtualServer) -> dict[str, str]:
    if vs.fwmark is not None:
        head = f"FWMARK {vs.fwmark}"
    elif vs.group is not None:
        head = f"GROUP {vs.group}"
    else:
        head = f"VIP {vs.ip}, VPORT = {vs.port or 0}"
    out = {
        "VS": head,
        "delay_loop": _seconds(vs.delay_loop),
        "connection timeout": _seconds(vs.connect_timeout),
        "lvs_sched": vs.lvs_sched,
        "default forwarding method": _method(vs.lvs_method),
        "quorum": f"{vs.quorum}, hysteresis = {vs.hysteresis}",
    }
    if vs.fwmark is None and "protocol" in vs.where.keywords:  # else TCP here, none/UDP there
        out["protocol"] = vs.protocol
    if vs.persistence_timeout is not None:
        out["persistence timeout"] = str(vs.persistence_timeout)
    for index, rs in enumerate(vs.real_server):
        out |= {f"rs{index}.{k}": v for k, v in _expected_rs(vs, rs).items()}
    return out


def _expected_rs(vs: VirtualServer, rs: RealServer) -> dict[str, str]:
    port = rs.port if rs.port is not None else (0 if vs.fwmark is not None else vs.port or 0)
    return {
        "RIP": f"{rs.ip} {port} {rs.weight}",
        "forwarding method": _method(rs.lvs_method or vs.lvs_method),
        "Alpha": "ON" if _first(rs.alpha, vs.alpha) else "OFF",
        "connection timeout": _seconds(_first(rs.connect_timeout, vs.connect_timeout)),
        "Delay loop": _seconds(_first(rs.delay_loop, vs.delay_loop)),
        "Inhibit on failure": "ON"
        if _first(rs.inhibit_on_failure, vs.inhibit_on_failure)
        else "OFF",
    }


def _expected_checker(
    vs: VirtualServer, rs: RealServer, check: AnyChecker
) -> tuple[str, ...] | None:
    """(alpha, delay loop, warmup, retries, delay before retry, timeout) as keepalived prints;
    None for a MISC_CHECK keepalived drops here (its program or user is missing)."""
    if not hasattr(check, "retry"):  # FILE_CHECK, BFD_CHECK: no timers of their own
        return ()
    if isinstance(check, MiscCheck) and not _runnable(check):
        return None
    default_retry = 3 if isinstance(check, DnsCheck) else 0 if isinstance(check, MiscCheck) else 1
    delay_loop = _first(getattr(check, "delay_loop", None), rs.delay_loop, vs.delay_loop)
    default_dbr = (
        3.0 if isinstance(check, HttpGet) else delay_loop if isinstance(check, DnsCheck) else 1.0
    )
    alpha = _first(getattr(check, "alpha", None), rs.alpha, vs.alpha)
    warmup = _first(getattr(check, "warmup", None), rs.warmup, vs.warmup, delay_loop)
    retry = _first(getattr(check, "retry", None), rs.retry, vs.retry, default_retry)
    before_retry = _first(
        getattr(check, "delay_before_retry", None),
        rs.delay_before_retry,
        vs.delay_before_retry,
        default_dbr,
    )
    values = (
        "yes" if alpha else "no",
        f"{round(delay_loop * 1e6)} us",
        f"{round(warmup * 1e6)} us",
        str(int(retry)),
        f"{round(before_retry * 1e6)} us",
    )
    if isinstance(check, MiscCheck | SmtpCheck):
        return values
    timeout = _first(
        getattr(check, "connect_timeout", None), rs.connect_timeout, vs.connect_timeout
    )
    return (*values, _seconds(timeout))


def _runnable(check: MiscCheck) -> bool:
    program = check.misc_path.program if check.misc_path is not None else ""
    user = check.user.username if check.user is not None else "root"
    try:
        pwd.getpwnam(user)
    except KeyError:
        return False
    return bool(program) and os.access(program, os.X_OK)


def _actual_checker(dump: dict[str, str]) -> tuple[str, ...]:
    if dump.get("Retries", "4294967295") == "4294967295":  # not a timed checker
        return ()
    keys = ("Alpha", "Delay loop", "Warmup", "Retries", "Delay before retry")
    values = tuple(dump.get(k, "?") for k in keys)
    method = dump.get("Keepalive method", "")
    if method.startswith(("MISC_CHECK", "SMTP_CHECK")):
        return values
    return (*values, dump.get("Timeout", "?"))


@pytest.mark.parametrize("case", _lvs_cases())
def test_keepalived_checker_reads_the_case_as_we_do(
    namespace: str, case: str, tmp_path: Path
) -> None:
    config = _config(case)
    ssl = config.SSL
    files = [] if ssl is None else [ssl.ca, ssl.certificate, ssl.key]
    if missing := [f for f in files if f and not os.path.exists(f)]:
        pytest.skip(f"keepalived stops without the SSL files {missing}, absent here")
    uncreatable = [
        t.file
        for t in config.vrrp_track_file
        if t.init_file and t.file and not os.path.isdir(os.path.dirname(t.file))
    ]
    if uncreatable:
        pytest.skip(f"keepalived's checker crashes when init_file cannot create {uncreatable}")
    servers, checkers = _sections(_keepalived_dump(namespace, case, tmp_path))

    assert len(servers) == len(config.virtual_server)
    for vs, parsed in zip(config.virtual_server, servers, strict=True):
        expected = _expected_vs(vs)
        assert {k: parsed.get(k) for k in expected} == expected
    expected = [
        _expected_checker(vs, rs, check)
        for vs in config.virtual_server
        for rs in vs.real_server
        for check in rs.checkers
        for _ in range(1 + len(check.host) if isinstance(check, SmtpCheck) else 1)
    ]
    ours = sorted(e for e in expected if e is not None)
    theirs = sorted(_actual_checker(c) for c in checkers)
    assert theirs == ours
    # The checker layer's own reading of the same config agrees with keepalived too.
    assert _from_config(config) == sorted(t[:5] for t in theirs if t)


def _from_config(config: KeepalivedConfig) -> list[tuple[str, ...]]:
    """(alpha, delay loop, warmup, retries, delay before retry) of ``check.from_config``'s plan,
    without the MISC_CHECKs keepalived drops here and the untimed FILE/BFD checkers."""
    dropped = {
        (str(rs.ip), index)
        for vs in config.virtual_server
        for rs in vs.real_server
        for index, misc in enumerate(rs.MISC_CHECK)
        if not _runnable(misc)
    }
    out = []
    for check in build(config).checks:
        key = check.key
        assert isinstance(key, CheckerKey)
        server = (str(key.real_server.address), key.index)
        if key.kind in ("FILE_CHECK", "BFD_CHECK") or (
            key.kind == "MISC_CHECK" and server in dropped
        ):
            continue
        h = check.hysteresis
        warmup = h.delay_loop_s if h.warmup_s is None else h.warmup_s
        out.append(
            (
                "yes" if h.alpha else "no",
                f"{round(h.delay_loop_s * 1e6)} us",
                f"{round(warmup * 1e6)} us",
                str(h.retry),
                f"{round(h.delay_before_retry_s * 1e6)} us",
            )
        )
    return sorted(out)
