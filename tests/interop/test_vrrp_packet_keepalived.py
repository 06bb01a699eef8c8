"""The VRRP codec against a live keepalived (Debian's 2.2.7), both ways, in network namespaces.

keepalived -> us: its adverts, read off the kernel adapter's raw sockets, decode under the
expectations of an instance configured like it. us -> keepalived: our adverts, with a higher
priority, keep its BACKUP instances from taking over (so its receive checks, checksum and
password included, accepted them), while a control instance nobody advertises for, and one
that gets a wrong password, do take over. Only the keepalived started here is stopped, by PID.
"""

import asyncio
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path

import pytest
from tests.kernel.nsutil import Lan, inside

from pykeepalived.kernel.vrrp_socket import MCAST_V4, MCAST_V6, VrrpSocket
from pykeepalived.vrrp.ipheader import decode_ipv4
from pykeepalived.vrrp.packet import Advert, AuthType, Family, VrrpPacketError, encode
from pykeepalived.vrrp.packet import pass_auth_data as pw
from pykeepalived.vrrp.receive import Expected, decode

pytestmark = [pytest.mark.root, pytest.mark.slow]
KEEPALIVED = "/usr/sbin/keepalived"
A4, B4 = IPv4Address("192.168.88.8"), IPv4Address("192.168.88.9")
A6, B6 = IPv6Address("fe80::8"), IPv6Address("fe80::9")


def _instance(name: str, body: str) -> str:
    return f"vrrp_instance {name} {{\n    interface eth1\n{body}}}\n"


V2_PASS = """    state {state}
    virtual_router_id 18
    priority 100
    advert_int 1
    authentication {{
        auth_type PASS
        auth_pass 123456
    }}
    virtual_ipaddress {{
        192.168.88.100/24
    }}
"""
V3_UNICAST = """    version 3
    state {state}
    virtual_router_id 61
    priority 100
    advert_int 0.2
    unicast_src_ip 192.168.88.8
    unicast_peer {{
        192.168.88.9
    }}
    virtual_ipaddress {{
        192.168.88.110/24
    }}
"""
V3_IPV6 = """    version 3
    state {state}
    virtual_router_id 52
    priority 100
    advert_int 0.2
    virtual_ipaddress {{
        fd00::100/64
        fd00::101/64
    }}
"""


@pytest.fixture
def lan() -> Iterator[Lan]:
    if os.geteuid() != 0 or shutil.which("ip") is None or not Path(KEEPALIVED).exists():
        pytest.skip("needs root, iproute2 and Debian's keepalived")
    network = Lan()
    try:
        yield network
    finally:
        network.close()


class Keepalived:
    """One keepalived (VRRP only) in namespace ``ns``; its console log is ``log``."""

    def __init__(self, ns: str, config: str, workdir: Path) -> None:
        self.log = workdir / "keepalived.log"
        conf = workdir / "keepalived.conf"
        conf.write_text("global_defs {\n    router_id pkinterop\n}\n" + config)
        argv = ["ip", "netns", "exec", ns, KEEPALIVED, "-n", "-l", "-D", "--vrrp", "-f", str(conf)]
        argv += ["-p", str(workdir / "k.pid"), "-r", str(workdir / "v.pid")]
        argv += ["-c", str(workdir / "c.pid")]
        with self.log.open("w") as out:  # `ip netns exec` execs: this PID is keepalived's
            self.process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)

    def stop(self) -> str:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
        return self.log.read_text()


def _hosts(lan: Lan) -> tuple[str, str]:
    a = lan.host("a", "192.168.88.8/24", "fe80::8/64")
    b = lan.host("b", "192.168.88.9/24", "fe80::9/64")
    return a, b


# --- keepalived -> us ---------------------------------------------------------------------------

EXPECT = {
    18: Expected(family=Family.IPV4, version=2, vrids=frozenset({18}), advert_int_cs=100,
                 auth_type=AuthType.PASS, auth_data=pw("123456"),
                 addresses=(IPv4Address("192.168.88.100"),)),
    61: Expected(family=Family.IPV4, version=3, vrids=frozenset({61}), advert_int_cs=20,
                 addresses=(IPv4Address("192.168.88.110"),), unicast=True),
    52: Expected(family=Family.IPV6, version=3, vrids=frozenset({52}), advert_int_cs=20,
                 addresses=(IPv6Address("fd00::100"), IPv6Address("fd00::101"))),
}  # fmt: skip


async def _listen(b: str, seconds: float) -> tuple[dict[int, Advert], list[str]]:
    """Decode every advert reaching host ``b`` for ``seconds``: by VRID, and the refusals."""
    with inside(b):
        sock4 = VrrpSocket("eth1", B4, group=MCAST_V4)
        sock6 = VrrpSocket("eth1", B6, group=MCAST_V6)
    adverts: dict[int, Advert] = {}
    refusals: list[str] = []
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline and len(adverts) < len(EXPECT):
            for sock in (sock4, sock6):
                try:
                    got = await asyncio.wait_for(sock.receive(), 0.05)
                except TimeoutError:
                    continue
                vrid = got.data[21 if got.has_ip_header else 1] if len(got.data) > 21 else 0
                if vrid not in EXPECT:
                    refusals.append(f"unexpected VRID {vrid}")
                    continue
                try:
                    if got.has_ip_header:
                        advert = decode_ipv4(got.data, EXPECT[vrid])
                    else:
                        assert got.dst is not None
                        advert = decode(got.data, EXPECT[vrid], src=got.src, dst=got.dst,
                                        ttl=got.ttl)  # fmt: skip
                except VrrpPacketError as err:
                    refusals.append(f"vrid {vrid}: {err}")
                    continue
                if advert.priority:
                    adverts[vrid] = advert
    finally:
        sock4.close()
        sock6.close()
    return adverts, refusals


def test_keepalived_adverts_decode(lan: Lan, tmp_path: Path) -> None:
    a, b = _hosts(lan)
    config = "".join(
        _instance(name, body.format(state="MASTER"))
        for name, body in [("V2", V2_PASS), ("V3U", V3_UNICAST), ("V3V6", V3_IPV6)]
    )
    keepalived = Keepalived(a, config, tmp_path)
    try:
        adverts, refusals = asyncio.run(_listen(b, 10.0))
    finally:
        log = keepalived.stop()
    assert sorted(adverts) == [18, 52, 61], log
    assert refusals == []
    assert adverts[18].auth_data == pw("123456")
    assert adverts[61].advert_int_cs == 20
    assert adverts[52].addresses == EXPECT[52].addresses


# --- us -> keepalived ---------------------------------------------------------------------------


async def _advertise(b: str, seconds: float) -> None:
    """From host ``b``: priority 200 for VRIDs 18, 61, 52; VRID 20 with a wrong password."""
    with inside(b):
        sock4 = VrrpSocket("eth1", B4)
        sock6 = VrrpSocket("eth1", B6)
    v2 = Advert(version=2, vrid=18, priority=200, advert_int_cs=100, family=Family.IPV4,
                addresses=(IPv4Address("192.168.88.100"),), auth_type=AuthType.PASS,
                auth_data=pw("123456"))  # fmt: skip
    wrong = Advert(version=2, vrid=20, priority=200, advert_int_cs=100, family=Family.IPV4,
                   addresses=(IPv4Address("192.168.88.120"),), auth_type=AuthType.PASS,
                   auth_data=pw("12345"))  # fmt: skip
    v3u = Advert(version=3, vrid=61, priority=200, advert_int_cs=20, family=Family.IPV4,
                 addresses=(IPv4Address("192.168.88.110"),))  # fmt: skip
    v3v6 = Advert(version=3, vrid=52, priority=200, advert_int_cs=20, family=Family.IPV6,
                  addresses=(IPv6Address("fd00::100"), IPv6Address("fd00::101")))  # fmt: skip
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            sock4.send(encode(v2), MCAST_V4)
            sock4.send(encode(wrong), MCAST_V4)
            sock4.send(encode(v3u, src=B4, dst=A4), A4)
            sock6.send(encode(v3v6, src=B6, dst=MCAST_V6), MCAST_V6)
            await asyncio.sleep(0.1)
    finally:
        sock4.close()
        sock6.close()


def test_keepalived_accepts_our_adverts(lan: Lan, tmp_path: Path) -> None:
    a, b = _hosts(lan)
    control = V2_PASS.replace("router_id 18", "router_id 19").replace(".100/24", ".119/24")
    wrong = V2_PASS.replace("router_id 18", "router_id 20").replace(".100/24", ".120/24")
    config = "".join(
        _instance(name, body.format(state="BACKUP"))
        for name, body in [
            ("OURS_V2", V2_PASS),
            ("OURS_V3U", V3_UNICAST),
            ("OURS_V3V6", V3_IPV6),
            ("CONTROL", control),
            ("WRONG_PASS", wrong),
        ]
    )
    keepalived = Keepalived(a, config, tmp_path)
    try:
        asyncio.run(_advertise(b, 6.0))
    finally:
        log = keepalived.stop()
    became_master = {line.split("(")[1].split(")")[0] for line in log.splitlines()
                     if "Entering MASTER STATE" in line}  # fmt: skip
    assert became_master == {"CONTROL", "WRONG_PASS"}, log
    assert "(WRONG_PASS) received an invalid passwd" in log
    complaints = ["checksum", "too short", "too long", "wrong version", "interval mismatch",
                  "not present", "unexpected ip number", "icast packet", "invalid ttl"]  # fmt: skip
    for complaint in complaints:
        assert complaint not in log.lower(), log
