"""The config corpus read by keepalived itself: its ``--dump-conf`` agrees with our model.

For every corpus case with VRRP instances, Debian's keepalived 2.2.7 runs (``--vrrp -d``, config
id ``lb1``) in a network namespace that has the interfaces the case names, and dumps what it
parsed. For each instance the values that decide behaviour on the wire (version, VRID,
priority, advert interval, authentication, preempt, GARP timers, VIPs, tracked scripts and
interfaces with their effective weights) must equal what our model says, keepalived's
inheritance (instance -> global_defs -> default) applied. ``KNOWN_DIFFERENCES`` pins where
keepalived reads a line differently (see ``tests/config/corpus/README.md``). Only the
keepalived started here is stopped, by its PID; the namespace is removed by name.
"""

import os
import re
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from ipaddress import IPv4Address
from pathlib import Path

import pytest
from tests.config.test_corpus import CASES, CONFIG_ID, _load, _path
from tests.kernel.nsutil import run

from pykeepalived.config.model import KeepalivedConfig
from pykeepalived.config.model_vrrp import VrrpInstance
from pykeepalived.vrrp.from_config import instance_params

pytestmark = [pytest.mark.root, pytest.mark.slow]
KEEPALIVED = "/usr/sbin/keepalived"
# (case, instance) -> fields keepalived 2.2.7 reads differently, with keepalived's value.
KNOWN_DIFFERENCES: dict[tuple[str, str], dict[str, object]] = {}
NEEDS_IPVS = pytest.mark.skipif(
    not Path("/proc/net/ip_vs").exists(), reason="keepalived's LVS sync daemon needs kernel IPVS"
)
# Cases whose keepalived dump cannot be read reliably, with why. Our reading of them is still
# pinned by tests/config/test_corpus.py's golden dumps.
GARBLED = {
    "bfd_check": "keepalived 2.2.7's BFD process writes into the same log as the dump: 4 CI "
    "runs read it garbled (VI_BFD without its VIP, then without priority), twice in a row "
    "even with a second dump",
}
_STAMP = re.compile(r"^\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}: ")


def _vrrp_cases() -> list[object]:
    """Cases with VRRP instances; those that start the LVS sync daemon need IPVS in the VRRP
    process too (keepalived 2.2.7 crashes in a loop without it), so they run only where it is."""
    out: list[object] = []
    for case in CASES:
        config = _config(case)
        if not config.vrrp_instance:
            continue
        sync = config.global_defs.lvs_sync_daemon or any(
            i.lvs_sync_daemon_interface for i in config.vrrp_instance
        )
        if case in GARBLED:
            out.append(pytest.param(case, marks=pytest.mark.skip(reason=GARBLED[case])))
            continue
        out.append(pytest.param(case, marks=NEEDS_IPVS) if sync else case)
    return out


def _config(case: str) -> KeepalivedConfig:
    config = _load(case).config
    assert config is not None
    return config


@pytest.fixture(scope="module")
def namespace() -> Iterator[str]:
    if not shutil.which(KEEPALIVED):
        pytest.skip(f"{KEEPALIVED} is not installed")
    ns = "pkdump" + secrets.token_hex(3)
    run("ip", "netns", "add", ns)
    try:
        run("ip", "link", "set", "lo", "up", ns=ns)
        yield ns
    finally:
        run("ip", "netns", "del", ns, check=False)


def _interfaces(config: KeepalivedConfig) -> set[str]:
    names: set[str] = set()
    for inst in config.vrrp_instance:
        names.add(inst.interface or "eth0")
        names |= {t.name for t in inst.track_interface}
        names |= {v.dev for v in inst.all_vips if v.dev}
    for group in config.vrrp_sync_group:
        names |= {t.name for t in group.track_interface}
    return names


def _ensure_links(ns: str, names: set[str]) -> None:
    present = run("ip", "-o", "link", "show", ns=ns)
    for name in sorted(names):
        if f" {name}@" in present or f" {name}:" in present:
            continue
        peer = "x" + secrets.token_hex(4)
        run("ip", "link", "add", name, "type", "veth", "peer", "name", peer, ns=ns)
        run("ip", "link", "set", name, "up", ns=ns)
        run("ip", "link", "set", peer, "up", ns=ns)


def _keepalived_dump(ns: str, case: str, workdir: Path) -> str:
    log = workdir / "keepalived.log"
    argv = ["ip", "netns", "exec", ns, KEEPALIVED, "-n", "-l", "-D", "-d", "--vrrp"]
    argv += ["-i", CONFIG_ID, "-f", str(_path(case))]
    argv += ["-p", str(workdir / "k.pid"), "-r", str(workdir / "v.pid")]
    env = {**os.environ, "TMPDIR": str(workdir)}
    with log.open("w") as out:  # `ip netns exec` execs: this PID is keepalived's
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
    complete = False
    try:
        # Bounded, but generous: under CI load keepalived once had not printed its dump after
        # 15 s (the bfd_check case, which also starts keepalived's BFD process).
        deadline = time.monotonic() + 45
        while time.monotonic() < deadline and process.poll() is None:
            text = log.read_text(errors="replace")
            if "------< Interfaces >------" in text.split("------< VRRP Topology >------")[-1]:
                complete = True
                break
            time.sleep(0.1)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    text = "\n".join(_STAMP.sub("", line) for line in log.read_text().splitlines())
    assert complete, (
        f"keepalived printed no complete dump (exit {process.returncode}):\n{text[-3000:]}"
    )
    return text


def _instances(dump: str) -> dict[str, dict[str, object]]:
    """``VRRP Instance = X`` sections: ``key = value`` lines, VIP and tracking lists."""
    topology = dump.split("------< VRRP Topology >------")[-1]
    topology = re.split(r"^------< ", topology, flags=re.M)[0]
    out: dict[str, dict[str, object]] = {}
    current: dict[str, object] = {}
    listing: list[str] | None = None
    for line in topology.splitlines():
        if m := re.match(r"^ VRRP Instance = (.+)$", line):
            current = out.setdefault(m.group(1), {})
            listing = None
        elif m := re.match(r"^   (Virtual IP|Tracked scripts|Tracked interfaces) [(:]", line):
            listing = []
            current[m.group(1)] = listing
        elif (m := re.match(r"^     (\S.*)$", line)) and listing is not None:
            listing.append(m.group(1))
        elif m := re.match(r"^   ([A-Za-z][^=]*?) = (.*)$", line):
            current.setdefault(m.group(1), m.group(2))
            listing = None
        elif line.startswith("   ") and not line.startswith("    "):
            listing = None
    return out


def _expected(config: KeepalivedConfig, inst: VrrpInstance) -> dict[str, object]:
    g = config.global_defs
    version = 3 if inst.family == 6 else inst.version or g.vrrp_version
    delay = g.vrrp_garp_master_delay if inst.garp_master_delay is None else inst.garp_master_delay
    repeat = (
        g.vrrp_garp_master_repeat if inst.garp_master_repeat is None else inst.garp_master_repeat
    )
    refresh = inst.garp_master_refresh
    refresh_repeat = inst.garp_master_refresh_repeat
    # Not set: global_defs' lower-priority values, which default to global_defs' master ones;
    # strict mode allows no repeats after a lower-priority advert.
    lower_delay = _first(
        inst.garp_lower_prio_delay, g.vrrp_garp_lower_prio_delay, g.vrrp_garp_master_delay
    )
    lower_repeat = _first(
        inst.garp_lower_prio_repeat, g.vrrp_garp_lower_prio_repeat, g.vrrp_garp_master_repeat
    )
    if g.vrrp_strict or inst.strict_mode:
        lower_delay = lower_repeat = 0
    adverts = inst.down_timer_adverts
    expected: dict[str, object] = {
        "VRRP Version": str(version),
        "Virtual Router ID": str(inst.virtual_router_id),
        "Priority": str(inst.priority),
        "Advert interval": (
            f"{inst.advert_int:g} sec"
            if version == 2
            else f"{round(inst.advert_int * 1000)} milli-sec"
        ),
        "Gratuitous ARP delay": str(delay),
        "Gratuitous ARP repeat": str(repeat),
        "Gratuitous ARP refresh": str(g.vrrp_garp_master_refresh if refresh is None else refresh),
        "Gratuitous ARP refresh repeat": str(
            g.vrrp_garp_master_refresh_repeat if refresh_repeat is None else refresh_repeat
        ),
        "Gratuitous ARP lower priority delay": str(lower_delay),
        "Gratuitous ARP lower priority repeat": str(lower_repeat),
        "Down timer adverts": str(g.vrrp_down_timer_adverts if adverts is None else adverts),
        "Preempt": "disabled" if inst.nopreempt else "enabled",
        "Accept": "enabled" if inst.accept_mode(g.vrrp_strict) else "disabled",
        "Virtual IP": [str(v.address).split("/")[0] for v in inst.virtual_ipaddress],
    }
    if version == 2:
        auth = inst.authentication
        names = {"PASS": "SIMPLE_PASSWORD", "AH": "IPSEC_AH"}
        expected["Authentication type"] = "none" if auth is None else names[auth.auth_type]
        if auth is not None and auth.auth_type == "PASS":
            expected["Password"] = auth.auth_pass
    if not _in_sync_group(config, inst):
        expected |= _tracking(config, inst)
    return expected


def _first(*values: int | None) -> int:
    return next(v for v in values if v is not None)


def _in_sync_group(config: KeepalivedConfig, inst: VrrpInstance) -> bool:
    return any(inst.name in {m.name for m in g.group} for g in config.vrrp_sync_group)


def _tracking(config: KeepalivedConfig, inst: VrrpInstance) -> dict[str, object]:
    out: dict[str, object] = {}
    # keepalived drops a vrrp_script whose program is missing here: compare the others only.
    # A line without ``weight`` takes the script's weight and reverse.
    defaults = {s.name: s for s in config.vrrp_script if _runnable(s.script)}
    scripts = [
        f"{t.name} weight {defaults[t.name].weight}"
        + (" reverse" if defaults[t.name].weight_reverse else "")
        if t.weight is None
        else f"{t.name} weight {t.weight}" + (" reverse" if t.reverse else "")
        for t in inst.track_script
        if t.name in defaults
    ]
    if scripts:
        out["Tracked scripts"] = scripts
    interfaces = [
        f"{t.name} weight {t.weight or 0}" + (" reverse" if t.reverse else "")
        for t in inst.track_interface
        if t.name != inst.interface
    ]
    if interfaces:
        out["Tracked interfaces"] = interfaces
    return out


def _runnable(command: str | None) -> bool:
    program = (command or "").split()
    return bool(program) and os.access(program[0], os.X_OK)


def _actual(parsed: dict[str, object], expected: dict[str, object]) -> dict[str, object]:
    out = {key: parsed.get(key) for key in expected}
    vips = parsed.get("Virtual IP")
    if isinstance(vips, list):
        out["Virtual IP"] = [line.split()[0].split("/")[0] for line in vips]
    return out


@pytest.mark.parametrize("case", _vrrp_cases())
def test_keepalived_reads_the_case_as_we_do(namespace: str, case: str, tmp_path: Path) -> None:
    config = _config(case)
    _ensure_links(namespace, _interfaces(config))
    dump = _keepalived_dump(namespace, case, tmp_path)
    parsed = _instances(dump)
    if not _agrees(config, case, parsed):
        # keepalived's own output once came garbled: in 2 of ~10 CI runs the bfd_check case
        # (its BFD process writes to the same log) showed a VIP list with no VIP, or no dump.
        # A second dump is asked for; a real difference shows in both.
        retry = tmp_path / "again"
        retry.mkdir()
        dump = _keepalived_dump(namespace, case, retry)
        parsed = _instances(dump)

    for inst in config.vrrp_instance:
        assert inst.name in parsed, f"keepalived did not report {inst.name}:\n{dump[-3000:]}"
        expected = _expected(config, inst)
        expected |= KNOWN_DIFFERENCES.get((case, inst.name), {})
        assert _actual(parsed[inst.name], expected) == expected, inst.name
        # What the VRRP layer builds from the same config agrees with keepalived too.
        params = _params(config, inst)
        assert {k: parsed[inst.name].get(k) for k in params} == params, inst.name


def _agrees(config: KeepalivedConfig, case: str, parsed: dict[str, dict[str, object]]) -> bool:
    for inst in config.vrrp_instance:
        if inst.name not in parsed:
            return False
        expected = _expected(config, inst) | KNOWN_DIFFERENCES.get((case, inst.name), {})
        if _actual(parsed[inst.name], expected) != expected:
            return False
    return True


def _params(config: KeepalivedConfig, inst: VrrpInstance) -> dict[str, object]:
    p = instance_params(inst, config, IPv4Address("192.0.2.1"))
    advert = (
        f"{p.advert_int_s:g} sec" if p.version == 2 else f"{round(p.advert_int_s * 1000)} milli-sec"
    )
    return {
        "VRRP Version": str(p.version),
        "Priority": str(p.priority),
        "Advert interval": advert,
        "Gratuitous ARP delay": f"{p.garp_master_delay_s:g}",
        "Gratuitous ARP repeat": str(p.garp_master_repeat),
        "Gratuitous ARP refresh": f"{p.garp_master_refresh_s:g}",
        "Gratuitous ARP refresh repeat": str(p.garp_master_refresh_repeat),
        "Gratuitous ARP lower priority delay": f"{p.garp_lower_prio_delay_s:g}",
        "Gratuitous ARP lower priority repeat": str(p.garp_lower_prio_repeat),
        "Down timer adverts": str(p.down_timer_adverts),
        "Send advert after receive lower priority advert": str(not p.lower_prio_no_advert).lower(),
        "Send advert after receive higher priority advert": str(p.higher_prio_send_advert).lower(),
    }
