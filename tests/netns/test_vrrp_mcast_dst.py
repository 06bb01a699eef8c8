"""mcast_dst_ip against Debian's keepalived 2.2.7: both send to 224.0.0.19 and hear each other
there (VRRPv3, advert_int 0.05). keepalived's receive socket is bound to its group, so a
master that sent anywhere else would not hold it in BACKUP; the capture on ``c`` shows every
advert on the wire going to the configured group, none to 224.0.0.18.
"""

import re
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .test_vrrp_wire import capture
from .vrrplab import (
    ADDRESSES,
    KEEPALIVED,
    VIP,
    VIP6,
    VrrpLab,
    config,
    instance_conf,
    start_pair,
    vrrp_lab,
    wait_sole,
)

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(shutil.which(KEEPALIVED) is None, reason="needs keepalived"),
    pytest.mark.skipif(shutil.which("tcpdump") is None, reason="needs tcpdump"),
]
ADVERT = re.compile(r": (\S+) > (\S+): VRRPv3, Advertisement")
GROUPS = {4: "224.0.0.19", 6: "ff02::13"}


@pytest.fixture
def lab() -> Iterator[VrrpLab]:
    with vrrp_lab() as network:
        yield network


def conf(priority: int, family: int) -> str:
    vips = (f"{VIP}/24",) if family == 4 else (f"{VIP6}/64",)
    return config(instance_conf(priority=priority, state="BACKUP", vips=vips,
                                extra=f"mcast_dst_ip {GROUPS[family]}"))  # fmt: skip


@pytest.mark.parametrize(("impl_a", "impl_b", "family"),
                         [("py", "ka", 4), ("ka", "py", 4), ("py", "ka", 6)],
                         ids=["py-master", "ka-master", "py-master-ipv6"])  # fmt: skip
def test_both_speak_and_hear_on_the_configured_group(
    lab: VrrpLab, tmp_path: Path, impl_a: str, impl_b: str, family: int
) -> None:
    """b starts alone and becomes MASTER; a (higher priority) preempts, which b only obeys if
    it hears a on the group; a stopped, b takes over at once (a's priority 0 heard)."""
    vip, group = (VIP if family == 4 else VIP6), GROUPS[family]
    proc, out = capture(lab, tmp_path, "ip proto 112" if family == 4 else "ip6 proto 112")
    try:
        start_pair(lab, conf(150, family), conf(100, family), impl_a=impl_a, impl_b=impl_b,
                   addr=vip)  # fmt: skip
        wait_sole(lab, vip, "a", settle=0.5)  # b stays BACKUP: it hears a's adverts
        a = lab.daemons[-1]
        t0 = time.monotonic()
        a.kill(signal.SIGTERM)
        took = lab.watch.wait_for(vip, "b", after=t0) - t0
        a.proc.wait(timeout=10)
        wait_sole(lab, vip, "b")
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=5)
    lines = [ln for ln in out.read_text().splitlines() if "VRRP" in ln]
    adverts = [m.groups() for ln in lines if (m := ADVERT.search(ln))]
    assert len(adverts) == len(lines), lines[:4]
    assert len({src for src, _ in adverts}) == 2, adverts[:4]  # a and b (IPv6: link-locals)
    if family == 4:
        assert {src for src, _ in adverts} == {ADDRESSES["a"], ADDRESSES["b"]}
    assert {dst for _, dst in adverts} == {group}, "every advert to the configured group"
    # a's priority 0 reached b: it takes over after its skew time (~0.03 s), not after a
    # master-down interval (~0.18 s); 0.15 s leaves room for a loaded machine.
    assert took < 0.15, f"b took {took:.3f} s over"
    for daemon in lab.daemons:
        assert "Traceback" not in daemon.text()
