"""What is on the wire: gratuitous ARPs captured by tcpdump, and forged adverts (issue 4).

A third namespace (``c``, 192.168.88.2) watches the LAN with tcpdump or sends hand-built
packets from a raw socket; the director ``a`` runs alone.
"""

import itertools
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import time
from collections.abc import Iterator
from ipaddress import IPv4Address
from pathlib import Path

import pytest
from tests.kernel.nsutil import inside

from pykeepalived.vrrp.packet import Advert, AuthType, Family, encode, pass_auth_data

from .vrrplab import (
    ADDRESSES,
    KEEPALIVED,
    VIP,
    VIP6,
    VrrpLab,
    config,
    instance_conf,
    vrrp_lab,
    wait_sole,
)

pytestmark = pytest.mark.root
GROUP = "224.0.0.18"


@pytest.fixture
def lab() -> Iterator[VrrpLab]:
    with vrrp_lab() as network:
        yield network


# -- gratuitous ARP ---------------------------------------------------------------------------

GARP = re.compile(
    r"^(\d+\.\d+) .*Request who-has 192\.168\.88\.100 (\(\S+\) )?tell 192\.168\.88\.100"
)


def capture(lab: VrrpLab, tmp: Path, expr: str) -> "tuple[subprocess.Popen[bytes], Path]":
    out = tmp / "capture.txt"
    err = tmp / "capture.err"
    argv = ["tcpdump", "-i", "eth1", "-n", "-tt", "-l", "-e", "-U", expr]
    with out.open("wb") as o, err.open("wb") as e:
        proc = subprocess.Popen(["ip", "netns", "exec", lab.ns["c"], *argv], stdout=o, stderr=e)
    deadline = time.monotonic() + 10
    while b"listening on" not in err.read_bytes():
        assert time.monotonic() < deadline, err.read_text()
        time.sleep(0.05)
    return proc, out


UNSOLICITED_NA = re.compile(r"^(\d+\.\d+) .*neighbor advertisement, tgt is fd00:88::100")


@pytest.mark.skipif(shutil.which("tcpdump") is None, reason="needs tcpdump")
@pytest.mark.parametrize("family", [4, 6])
@pytest.mark.parametrize("impl", ["py", "ka"])
def test_gratuitous_arps_count_and_timing(
    lab: VrrpLab, tmp_path: Path, impl: str, family: int
) -> None:
    """garp_master_repeat 3 at once and again after garp_master_delay 1; then every
    garp_master_refresh 2 s, garp_master_refresh_repeat 2 (the seed: refresh 10, repeat 2).
    IPv4: gratuitous ARP requests; IPv6: unsolicited neighbour advertisements.
    keepalived 2.2.7 runs the same config as the reference."""
    if impl == "ka" and shutil.which(KEEPALIVED) is None:
        pytest.skip("needs keepalived")
    extra = (
        "garp_master_delay 1\ngarp_master_repeat 3\n"
        "garp_master_refresh 2\ngarp_master_refresh_repeat 2"
    )
    vip, vips = (VIP, (f"{VIP}/24",)) if family == 4 else (VIP6, (f"{VIP6}/64",))
    pattern = GARP if family == 4 else UNSOLICITED_NA
    proc, out = capture(lab, tmp_path, "arp" if family == 4 else "icmp6 and ip6[40] == 136")
    try:
        lab.start("a", config(instance_conf(priority=100, extra=extra, vips=vips)), impl=impl)
        t_vip = lab.watch.wait_for(vip, "a", timeout=20)
        wall_vip = t_vip + (time.time() - time.monotonic())
        time.sleep(max(0.0, t_vip + 4.5 - time.monotonic()))
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=5)
    text = out.read_text()
    stamps = [float(m[1]) - wall_vip for m in map(pattern.match, text.splitlines()) if m]
    print(impl, family, [round(t, 3) for t in stamps])
    bursts: list[list[float]] = []
    for t in stamps:
        if bursts and t - bursts[-1][-1] < 0.2:
            bursts[-1].append(t)
        else:
            bursts.append([t])
    sizes = [len(b) for b in bursts]
    starts = [b[0] for b in bursts]
    assert sizes == [3, 3, 2, 2], (sizes, starts, text)
    for got, want in zip(starts, [0.0, 1.0, 2.0, 4.0], strict=True):
        assert abs(got - want) <= 0.15, (starts, want)


ANY_GARP = re.compile(
    r"^(\d+\.\d+) .*Request who-has (192\.168\.88\.10[01]) (\(\S+\) )?tell 192\.168\.88\.10[01]"
)


@pytest.mark.skipif(shutil.which("tcpdump") is None, reason="needs tcpdump")
@pytest.mark.parametrize("impl", ["py", "ka"])
def test_garp_interval_paces_and_collapses(lab: VrrpLab, tmp_path: Path, impl: str) -> None:
    """vrrp_garp_interval 0.1 with two VIPs and garp_master_repeat 5: keepalived 2.2.7 sends
    one GARP at once, and the repeats that find the interface busy collapse into one pending
    GARP per VIP: VIP1 at 0, VIP1 at 0.1 s, VIP2 at 0.2 s; the same again after
    garp_master_delay 1. Spacing on the wire >= the interval (5 ms of capture jitter)."""
    if impl == "ka" and shutil.which(KEEPALIVED) is None:
        pytest.skip("needs keepalived")
    vips = (f"{VIP}/24", "192.168.88.101/24")
    extra = "garp_master_delay 1\ngarp_master_repeat 5"
    conf = config(instance_conf(priority=100, extra=extra, vips=vips),
                  global_defs="    vrrp_garp_interval 0.1\n")  # fmt: skip
    proc, out = capture(lab, tmp_path, "arp")
    try:
        lab.start("a", conf, impl=impl)
        t_vip = lab.watch.wait_for(VIP, "a", timeout=20)
        wall_vip = t_vip + (time.time() - time.monotonic())
        time.sleep(max(0.0, t_vip + 1.8 - time.monotonic()))
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=5)
    seen = [(float(m[1]) - wall_vip, m[2]) for m in map(ANY_GARP.match,
            out.read_text().splitlines()) if m]  # fmt: skip
    print(impl, [(round(t, 3), a[-3:]) for t, a in seen])
    order = [a[-3:] for _, a in seen]
    assert order == ["100", "100", "101"] * 2, seen
    stamps = [t for t, _ in seen]
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert all(0.095 <= g <= 0.2 for g in gaps[:2] + gaps[3:]), gaps
    assert abs(stamps[0]) <= 0.1, stamps
    assert 0.9 <= stamps[3] - stamps[0] <= 1.15, stamps


# -- forged adverts ---------------------------------------------------------------------------


def ip_header(payload_len: int, src: str, dst: str, ttl: int = 255) -> bytes:
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0xC0, 20 + payload_len, 0, 0, ttl, 112, 0,
                         socket.inet_aton(src), socket.inet_aton(dst))  # fmt: skip
    words = sum(struct.unpack("!10H", header))
    while words >> 16:
        words = (words & 0xFFFF) + (words >> 16)
    return header[:10] + struct.pack("!H", ~words & 0xFFFF) + header[12:]


def advert(*, vrid: int = 18, priority: int = 254, password: str = "123456") -> bytes:
    a = Advert(version=2, vrid=vrid, priority=priority, advert_int_cs=100, family=Family.IPV4,
               addresses=(IPv4Address(VIP),), auth_type=AuthType.PASS,
               auth_data=pass_auth_data(password))  # fmt: skip
    return encode(a, src=IPv4Address(ADDRESSES["c"]), dst=IPv4Address(GROUP))


def forgeries() -> dict[str, bytes]:
    src, good = ADDRESSES["c"], advert()
    bad_sum = bytearray(good)
    bad_sum[6] ^= 0xFF
    short = good[:12]
    return {
        "auth": ip_header(len(good), src, GROUP) + advert(password="654321"),
        "vrid": ip_header(len(good), src, GROUP) + advert(vrid=19),
        "ttl": ip_header(len(good), src, GROUP, ttl=254) + good,
        "checksum": ip_header(len(good), src, GROUP) + bytes(bad_sum),
        "length": ip_header(len(short), src, GROUP) + short,
    }


def send_raw(lab: VrrpLab, packets: list[bytes]) -> None:
    with inside(lab.ns["c"]):
        sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    with sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"eth1")
        for packet in packets:
            sock.sendto(packet, (GROUP, 0))


@pytest.mark.slow
def test_forged_adverts_are_dropped_and_counted(lab: VrrpLab) -> None:
    a = lab.start("a", config(instance_conf(priority=100, version=2, advert_int=1)))
    wait_sole(lab, VIP, "a", timeout=20)
    before = a.text().count("Entering")
    for kind, packet in forgeries().items():
        send_raw(lab, [packet] * 3)
        a.wait_log(f"bad VRRP packet ({kind}, #3)", timeout=5)
    time.sleep(0.3)
    assert a.text().count("Entering") == before
    assert lab.watch.holders(VIP) == {"a"}
    # the control: the same sender with nothing wrong is heard (priority 254 wins)
    good = advert()
    t0 = time.monotonic()
    send_raw(lab, [ip_header(len(good), ADDRESSES["c"], GROUP) + good])
    lab.watch.wait_for(VIP, "a", op="del", after=t0, timeout=5)
    assert "Master received advert from 192.168.88.2 with higher priority 254" in a.text()
