"""Side by side with Debian's keepalived 2.2.7 on the same kernel (in the VM).

The same configuration goes to keepalived (checker process only: ``-C``) in one namespace and
through pykeepalived's path in another: config loader -> ``lvs.desired.compute`` (every real
server healthy) -> ``lvs.reconcile.plan`` -> ``IpvsDataPlane``. Then ``ipvsadm -Ln`` (and its
``--thresholds`` / ``--tun-info`` / ``--timeout`` views) must read the same, service by service.
The seed's HTTP_GET checkers are kept passing by a busybox httpd on the real servers'
addresses in keepalived's namespace. The sync daemon is compared with keepalived's VRRP
process (``-P``), which starts it when its instance becomes MASTER.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from pykeepalived.config.loader import load
from pykeepalived.kernel.ipvs import IpvsDataPlane
from pykeepalived.kernel.ipvs_msg import Timeouts, sync_daemon_from_config
from pykeepalived.lvs.desired import Health, RealServerId, compute, real_server_id
from pykeepalived.lvs.reconcile import OpKind, plan

from .ipvs_lab import KEEPALIVED, by_service, keepalived, listing, namespace, sh, wait_for

pytestmark = [
    pytest.mark.ipvs,
    pytest.mark.root,
    pytest.mark.skipif(not KEEPALIVED.exists(), reason="Debian's keepalived is not installed"),
]

SEED = Path(__file__).resolve().parents[2] / "examples" / "seed" / "keepalived-master.conf"

FEATURES = """
global_defs {
    router_id parity
    lvs_timeouts tcp 900 tcpfin 30 udp 60
}
virtual_server 192.0.2.1 53 {
    lb_algo rr
    lb_kind NAT
    protocol UDP
    ops
    real_server 10.0.0.1 5353 {
        weight 2
    }
}
virtual_server 2001:db8::1 443 {
    lb_algo sh
    sh-port
    sh-fallback
    lb_kind NAT
    protocol TCP
    persistence_timeout 600
    persistence_granularity 64
    real_server 2001:db8::10 443 {
        weight 1
    }
    real_server 2001:db8::11 443 {
        weight 4
    }
}
virtual_server fwmark 7 {
    lb_algo wrr
    lb_kind DR
    persistence_timeout 300
    persistence_granularity 255.255.255.0
    real_server 10.0.0.4 {
        weight 2
    }
    real_server 10.0.0.8 {
        weight 5
    }
}
virtual_server 192.0.2.2 8080 {
    lb_algo mh
    mh-port
    lvs_method TUN type gue port 6080 csum
    protocol TCP
    real_server 10.0.0.5 8080 {
        weight 1
    }
    real_server 10.0.0.6 8080 {
        weight 3
        lvs_method TUN type gre
    }
}
virtual_server 192.0.2.3 3868 {
    lb_algo lc
    lb_kind NAT
    protocol SCTP
    real_server 10.0.0.3 3868 {
        weight 2
        uthreshold 100
        lthreshold 10
    }
}
virtual_server 192.0.2.4 25 {
    lb_algo lblcr
    lb_kind DR
    protocol TCP
    persistence_timeout 60
    real_server 10.0.0.9 25 {
        weight 7
    }
}
"""

VIEWS = ((), ("--thresholds",), ("--tun-info",))


@pytest.fixture
def pair() -> Iterator[tuple[str, str]]:
    with namespace("kad") as theirs, namespace("pyk") as ours:
        yield theirs, ours


def serve_real_servers(netns: str, workdir: Path, addresses: list[str]) -> subprocess.Popen[bytes]:
    """The seed's real servers, for its HTTP_GET checkers: one busybox httpd on port 80."""
    sh("ip", "link", "add", "web0", "type", "dummy", netns=netns)
    sh("ip", "link", "set", "web0", "up", netns=netns)
    for address in addresses:
        sh("ip", "addr", "add", f"{address}/32", "dev", "web0", netns=netns)
    root = workdir / "www"
    root.mkdir()
    (root / "index.html").write_text("ok\n")
    busybox = shutil.which("busybox") or "/bin/busybox"
    argv = ["ip", "netns", "exec", netns, busybox, "httpd", "-f", "-p", "80", "-h", str(root)]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for address in addresses:
        for _ in range(50):
            got = subprocess.run(
                ["ip", "netns", "exec", netns, busybox, "wget", "-q", "-O-", f"http://{address}/"],
                capture_output=True,
                text=True,
                check=False,
            )
            if got.stdout == "ok\n":
                break
            subprocess.run(["sleep", "0.2"], check=False)
        else:
            raise AssertionError(f"httpd does not answer on {address}")
    return proc


async def program(
    netns: str, conf: Path, health: Mapping[RealServerId, Health] | None = None
) -> list[OpKind]:
    """pykeepalived's path from config to kernel (every real server healthy unless ``health``
    says otherwise): the kinds of the operations it took."""
    loaded = load(str(conf))
    assert loaded.config is not None
    desired = compute(loaded.config, health or {}).table
    backend = IpvsDataPlane(netns=netns)
    try:
        ops = plan(desired, await backend.observe(), desired)
        assert await backend.apply(ops, desired) == []
        timeouts = loaded.config.global_defs.lvs_timeouts
        if timeouts is not None:
            await backend.set_timeouts(
                Timeouts(tcp=timeouts.tcp, tcpfin=timeouts.tcpfin, udp=timeouts.udp)
            )
    finally:
        await backend.close()
    return [op.kind for op in ops]


def seed_rs(n: int) -> RealServerId:
    loaded = load(str(SEED))
    assert loaded.config is not None
    vs = loaded.config.virtual_server[0]
    return real_server_id(vs, vs.real_server[n])


def side_by_side(theirs: str, ours: str, title: str) -> None:
    for view in VIEWS:
        a, b = listing(theirs, *view), listing(ours, *view)
        print(f"--- {title}: ipvsadm -Ln {' '.join(view)} (keepalived 2.2.7)\n{a}")
        print(f"--- {title}: ipvsadm -Ln {' '.join(view)} (pykeepalived)\n{b}")
        assert by_service(b) == by_service(a), view
    a, b = (sh("ipvsadm", "-L", "--timeout", netns=n) for n in (theirs, ours))
    assert a == b


def test_seed_virtual_server_as_keepalived_programs_it(
    pair: tuple[str, str], tmp_path: Path
) -> None:
    """The seed, then its second real server failing its HTTP_GET (address gone) and coming
    back: keepalived removes and re-adds it, we do the same with one operation each."""
    theirs, ours = pair
    log = tmp_path / "keepalived.log"
    web = serve_real_servers(theirs, tmp_path, ["192.168.88.10", "192.168.88.11"])
    try:
        with keepalived(theirs, SEED, tmp_path) as proc:
            wait_for(theirs, 2, proc, log)
            asyncio.run(asyncio.wait_for(program(ours, SEED), 60))
            side_by_side(theirs, ours, "seed")
            assert "TCP  192.168.88.100:80 wlc" in listing(ours)
            assert len(by_service(listing(ours))["TCP 192.168.88.100:80 wlc"]) == 2
            # Real server removal: its checker fails in keepalived, health says down here.
            sh("ip", "addr", "del", "192.168.88.11/32", "dev", "web0", netns=theirs)
            wait_for(theirs, 1, proc, log)
            down = {seed_rs(1): Health(up=False)}
            kinds = asyncio.run(asyncio.wait_for(program(ours, SEED, down), 60))
            assert kinds == [OpKind.DEL_DEST]
            side_by_side(theirs, ours, "seed, 192.168.88.11 down")
            # ... and re-add.
            sh("ip", "addr", "add", "192.168.88.11/32", "dev", "web0", netns=theirs)
            wait_for(theirs, 2, proc, log)
            kinds = asyncio.run(asyncio.wait_for(program(ours, SEED), 60))
            assert kinds == [OpKind.ADD_DEST]
            side_by_side(theirs, ours, "seed, 192.168.88.11 back")
    finally:
        web.terminate()
        web.wait(timeout=10)


def test_features_as_keepalived_programs_them(pair: tuple[str, str], tmp_path: Path) -> None:
    """UDP + ops, IPv6 + sh flags + persistence /64, fwmark DR + persistence mask, TUN gue/gre
    with csum, SCTP + thresholds, lblcr, and lvs_timeouts."""
    theirs, ours = pair
    conf = tmp_path / "features.conf"
    conf.write_text(FEATURES)
    with keepalived(theirs, conf, tmp_path) as proc:
        wait_for(theirs, 9, proc, tmp_path / "keepalived.log")
        asyncio.run(asyncio.wait_for(program(ours, conf), 60))
        side_by_side(theirs, ours, "features")
        assert len(by_service(listing(ours))) == 6


SYNC = """
global_defs {
    router_id syncpair
    lvs_sync_daemon sync0 VI_1 maxlen 1400 port 8850 ttl 2
}
vrrp_instance VI_1 {
    state MASTER
    interface sync0
    virtual_router_id 51
    priority 150
    advert_int 1
    virtual_ipaddress {
        10.5.0.100/24
    }
}
"""


def test_sync_daemon_as_keepalived_starts_it(pair: tuple[str, str], tmp_path: Path) -> None:
    """keepalived's VRRP process starts the master sync daemon when its instance is MASTER;
    ours, from the same ``lvs_sync_daemon`` line, reads the same in ``ipvsadm -L --daemon``."""
    theirs, ours = pair
    for netns in pair:
        sh("ip", "link", "add", "sync0", "type", "dummy", netns=netns)
        sh("ip", "link", "set", "sync0", "up", "multicast", "on", netns=netns)
        sh("ip", "addr", "add", "10.5.0.1/24", "dev", "sync0", netns=netns)
    conf = tmp_path / "sync.conf"
    conf.write_text(SYNC)
    log = tmp_path / "keepalived.log"
    with keepalived(theirs, conf, tmp_path, subsystem="-P") as proc:
        deadline = time.monotonic() + 60
        while "master sync daemon" not in sh("ipvsadm", "-L", "--daemon", netns=theirs):
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.3)
        expected = sh("ipvsadm", "-L", "--daemon", netns=theirs)

        async def start() -> None:
            loaded = load(str(conf))
            assert loaded.config is not None
            config = loaded.config.global_defs.lvs_sync_daemon
            assert config is not None
            backend = IpvsDataPlane(netns=ours)
            try:
                await backend.start_sync_daemon(sync_daemon_from_config(config, "master", 51))
            finally:
                await backend.close()

        asyncio.run(asyncio.wait_for(start(), 60))
        got = sh("ipvsadm", "-L", "--daemon", netns=ours)
        print(f"--- keepalived 2.2.7\n{expected}--- pykeepalived\n{got}")
        assert got == expected
        assert "syncid=51" in got
