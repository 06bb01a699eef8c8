"""SIGHUP keeps a vrrp_sync_group's members in their state (keepalived's restore_vrrp_state).

Two real pykeepalived directors in network namespaces (``tests/netns/vrrplab``), VRRPv3 with
advert_int 0.1, a sync group G of VI_1 (VIP .100) and VI_2 (VIP .101); a is MASTER, b BACKUP.
Both are reloaded together, as an operator does:
1. G gains VI_3 (VIP .102) and a's priorities change: VI_1 and VI_2 keep their state on both
   (no transition, no VIP removed or moved), VI_3 joins the group's state: MASTER on a, BACKUP
   on b;
2. VI_2 is removed: it stops alone (its VIP goes, from a only), VI_1 and VI_3 carry on.
The group stays consistent throughout, and a SIGTERM of a still moves the whole group to b.
"""

import signal
import time
from collections.abc import Iterator

import pytest
from tests.netns.vrrplab import Daemon, VrrpLab, config, instance_conf, start_pair, vrrp_lab

pytestmark = pytest.mark.root
ADVERT = 0.1
VIPS = {"VI_1": "192.168.88.100", "VI_2": "192.168.88.101", "VI_3": "192.168.88.102"}
VRIDS = {"VI_1": 51, "VI_2": 52, "VI_3": 53}


@pytest.fixture
def lab() -> Iterator[VrrpLab]:
    with vrrp_lab() as network:
        yield network


def conf(priority: int, *names: str) -> str:
    blocks = [
        instance_conf(
            name=n, vrid=VRIDS[n], priority=priority, advert_int=ADVERT, vips=(f"{VIPS[n]}/24",)
        )
        for n in names
    ]
    group = "vrrp_sync_group G {\n    group {\n" + "".join(f"        {n}\n" for n in names)
    return config(*blocks, group + "    }\n}\n")


def reload(daemon: Daemon, text: str) -> None:
    daemon.log.with_suffix(".conf").write_text(text)
    done = daemon.text().count("reloaded:")
    daemon.kill(signal.SIGHUP)
    daemon.wait_log("reloaded:", timeout=5, count=done + 1)


def entered(daemon: Daemon, name: str, state: str) -> int:
    return daemon.text().count(f"({name}) Entering {state} STATE")


def test_reload_keeps_sync_group_members_adds_and_removes_one(lab: VrrpLab) -> None:
    start_pair(lab, conf(200, "VI_1", "VI_2"), conf(100, "VI_1", "VI_2"),
               addr=VIPS["VI_1"])  # fmt: skip
    b, a = lab.daemons
    for vip in (VIPS["VI_1"], VIPS["VI_2"]):
        lab.watch.wait_for(vip, "a", timeout=5)
    time.sleep(5 * ADVERT)
    before = {(d.host, n, s): entered(d, n, s) for d in (a, b) for n in ("VI_1", "VI_2")
              for s in ("MASTER", "BACKUP")}  # fmt: skip

    t0 = time.monotonic()
    reload(a, conf(210, "VI_1", "VI_2", "VI_3"))
    reload(b, conf(100, "VI_1", "VI_2", "VI_3"))
    lab.watch.wait_for(VIPS["VI_3"], "a", after=t0, timeout=5)
    b.wait_log("(VI_3) Entering BACKUP STATE", timeout=5)
    time.sleep(10 * ADVERT)  # a flap would show by now
    for daemon in (a, b):
        assert "VRRP: 2 instance(s) kept their state, 1 (re)started" in daemon.text()
    after = {key: entered(d, key[1], key[2]) for d in (a, b) for key in before if key[0] == d.host}
    assert after == before, "a kept member changed state"
    for name, vip in VIPS.items():
        assert lab.watch.holders(vip) == {"a"}, name
        assert lab.watch.overlaps(vip, since=t0) == []
    assert not [e for e in lab.watch.events if e[0] >= t0 and e[2] == "del"]
    assert "(VI_3) Entering MASTER STATE" in a.text()
    assert "(VI_3) Entering MASTER STATE" not in b.text()

    t1 = time.monotonic()
    reload(a, conf(210, "VI_1", "VI_3"))
    reload(b, conf(100, "VI_1", "VI_3"))
    lab.watch.wait_for(VIPS["VI_2"], "a", op="del", after=t1, timeout=5)
    time.sleep(10 * ADVERT)
    assert lab.watch.holders(VIPS["VI_2"]) == set()
    for name in ("VI_1", "VI_3"):
        assert lab.watch.holders(VIPS[name]) == {"a"}
    assert [e[3] for e in lab.watch.events if e[0] >= t1] == [VIPS["VI_2"]]
    assert entered(a, "VI_1", "MASTER") == before[("a", "VI_1", "MASTER")]
    assert "VRRP: 2 instance(s) kept their state, 0 (re)started" in a.text()

    # The group still moves as one: SIGTERM of a hands both members to b.
    t2 = time.monotonic()
    a.kill(signal.SIGTERM)
    for name in ("VI_1", "VI_3"):
        lab.watch.wait_for(VIPS[name], "b", after=t2, timeout=5)
    a.proc.wait(timeout=10)
    for daemon in (a, b):
        assert "Traceback" not in daemon.text()
