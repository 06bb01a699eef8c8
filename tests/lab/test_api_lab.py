"""The API, /metrics and the dashboard on the lab's real directors (root, namespaces).

Each director serves its API on 127.0.0.1:API_PORT in its own namespace; the test enters that
namespace with setns (this thread only; Playwright's driver and chromium are started from it
and inherit it). Values are asserted, not only status codes: VRRP state before and after a
failover, a real server's health before and after its web server stops, weights after a drain
from the dashboard, and the lab's client confirms where requests go.
"""

import contextlib
import ctypes
import json
import os
import re
import signal
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from pykeepalived.lab import topology
from pykeepalived.lab.scenario import requests
from pykeepalived.lab.topology import API_PORT, HOSTS, LabState, start_director, start_web

# The lab spawns its daemons and web servers as long-lived children and reaps them in
# ``down`` by PID; their Popen objects are dropped on purpose (ResourceWarning at collection).
pytestmark = [
    pytest.mark.root,
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
]

MASTER, BACKUP = topology.DIRECTORS
INSTANCE = "HA_WebServer"
VIP = topology.VIP
VS = f"{VIP}:80/TCP"
NODE1, NODE2 = f"{HOSTS['node-1']}:80", f"{HOSTS['node-2']}:80"
CLONE_NEWNET = 0x40000000
SHOTS = Path(os.environ.get("PYKEEPALIVED_SCREENSHOTS", "/tmp/pykeepalived-screens"))


@contextlib.contextmanager
def in_netns(name: str) -> Iterator[None]:
    """This thread in namespace ``name`` for the block, then back."""
    libc = ctypes.CDLL(None, use_errno=True)
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        if libc.setns(target, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns {name}")
        yield
    finally:
        if libc.setns(home, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns back home")
        os.close(target)
        os.close(home)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabState]:
    mp = pytest.MonkeyPatch()
    mp.setattr(topology, "STATE_DIR", tmp_path_factory.mktemp("lab") / "run")
    try:
        state = topology.up(print)
        yield state
    finally:
        topology.down(print)
        mp.undo()


def url(path: str) -> str:
    return f"http://127.0.0.1:{API_PORT}{path}"


def get(state: LabState, director: str, path: str) -> Any:
    with in_netns(state.ns(director)), urllib.request.urlopen(url(path), timeout=5) as r:
        return json.loads(r.read()) if path.startswith("/api") else r.read().decode()


def post(
    state: LabState, director: str, path: str, body: Any, token: str | None
) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url(path), json.dumps(body).encode(), headers, method="POST")
    with in_netns(state.ns(director)):
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())


def metrics(state: LabState, director: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = get(state, director, "/metrics")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
    }


def metric(samples: dict[Any, float], name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def eventually(check: Callable[[], Any], timeout_s: float = 40, what: str = "") -> Any:
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (OSError, urllib.error.URLError) as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what or check}: last {last!r}")


def instance(state: LabState, director: str) -> dict[str, Any]:
    (view,) = [
        i for i in get(state, director, "/api/v1/instances")["instances"] if i["name"] == INSTANCE
    ]
    return view


def real_servers(state: LabState, director: str) -> dict[str, dict[str, Any]]:
    (vs,) = [
        v
        for v in get(state, director, "/api/v1/virtual-servers")["virtual_servers"]
        if v["id"] == VS
    ]
    return {f"{rs['address']}:{rs['port']}": rs for rs in vs["real_servers"]}


def state_is(state: LabState, director: str, wanted: str) -> bool:
    return bool(instance(state, director)["state"] == wanted)


def vrrp_state_metric(state: LabState, director: str) -> float | None:
    labels = {"iname": INSTANCE, "intf": "eth1", "vrid": "18", "ip_address": VIP}
    return metric(metrics(state, director), "keepalived_vrrp_state", **labels)


def settle(state: LabState) -> None:
    eventually(lambda: state_is(state, MASTER, "MASTER"), what="master MASTER")
    eventually(lambda: state_is(state, BACKUP, "BACKUP"), what="backup BACKUP")
    eventually(
        lambda: all(rs["healthy"] for rs in real_servers(state, MASTER).values()),
        what="both real servers healthy",
    )


def token(state: LabState) -> str:
    return (state.dir / "api.token").read_text().strip()


def test_mutations_need_the_token_in_the_lab(lab: LabState) -> None:
    settle(lab)
    body = {"virtual_server": VS, "address": HOSTS["node-1"], "port": 80}
    for bad in (None, "wrong"):
        status, answer = post(lab, MASTER, "/api/v1/real-servers/drain", body, bad)
        assert status == 401, answer
    assert real_servers(lab, MASTER)[NODE1]["weight"] == 3
    status, answer = post(
        lab, MASTER, "/api/v1/real-servers/drain", {**body, "address": "192.168.88.77"}, token(lab)
    )
    assert status == 404
    assert "no real server 192.168.88.77:80" in answer["error"]


def test_dashboard_drains_and_undrains_a_real_server(lab: LabState) -> None:
    from playwright.sync_api import expect
    from tests.api.browser import chromium_page

    settle(lab)
    eventually(
        lambda: set(requests(lab, 12)) >= {HOSTS["node-1"], HOSTS["node-2"]},
        what="both nodes answer",
    )
    secret = token(lab)
    with in_netns(lab.ns(MASTER)), chromium_page() as page_obj:
        page: Any = page_obj
        page.on("dialog", lambda dialog: dialog.accept(secret))
        page.goto(url("/"))
        row1 = page.locator(f'tr[data-rs="{NODE1}"]')
        row1.wait_for()
        assert page.locator(f'tr[data-rs="{NODE2}"]').count() == 1
        assert page.locator(f'tr[data-instance="{INSTANCE}"] .badge').inner_text() == "MASTER"
        row1.locator('button[data-action="drain"]').click()
        row1.locator('button[data-action="undrain"]').wait_for()
        assert row1.locator("td.weight").inner_text() == "0"
        # the data plane holds weight 0 (configured / programmed)
        expect(row1.locator("td.programmed")).to_have_text(re.compile(r"/ 0$"), timeout=15_000)
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "dashboard-lab-drained.png"), full_page=True)
    answers = eventually(
        lambda: (a := requests(lab, 12)) and set(a) == {HOSTS["node-2"]} and a,
        what="requests only to node-2 while node-1 is drained",
    )
    assert len(answers) == 12
    drained = real_servers(lab, MASTER)[NODE1]
    assert (drained["weight"], drained["programmed_weight"], drained["drained"]) == (0, 0, True)
    samples = metrics(lab, MASTER)
    assert (
        metric(samples, "pykeepalived_real_server_weight", virtual_server=VS, real_server=NODE1)
        == 0
    )
    assert (
        metric(samples, "pykeepalived_real_server_drained", virtual_server=VS, real_server=NODE1)
        == 1
    )
    with in_netns(lab.ns(MASTER)), chromium_page() as page_obj:
        page = page_obj
        page.on("dialog", lambda dialog: dialog.accept(secret))
        page.goto(url("/"))
        row1 = page.locator(f'tr[data-rs="{NODE1}"]')
        row1.locator('button[data-action="undrain"]').click()
        row1.locator('button[data-action="drain"]').wait_for()
        assert row1.locator("td.weight").inner_text() == "3"
    eventually(
        lambda: set(requests(lab, 12)) == {HOSTS["node-1"], HOSTS["node-2"]},
        what="both nodes answer again after undrain",
    )
    assert real_servers(lab, MASTER)[NODE1]["weight"] == 3


def status_rows(lab: LabState, director: str) -> dict[str, list[str]]:
    """``pykeepalived status`` run in the director's namespace, rows keyed by first word."""
    out = lab.exec(
        director,
        sys.executable,
        "-m",
        "pykeepalived",
        "status",
        "--api",
        f"127.0.0.1:{API_PORT}",
        "--events",
        "0",
    )
    return {line.split()[0]: line.split() for line in out.splitlines() if line.strip()}


def test_api_and_metrics_follow_a_failover_and_back(lab: LabState) -> None:
    settle(lab)
    assert status_rows(lab, MASTER)[INSTANCE][1] == "MASTER"
    assert status_rows(lab, BACKUP)[INSTANCE][1] == "BACKUP"
    assert status_rows(lab, MASTER)[NODE1][1:3] == ["up", "3"]
    assert vrrp_state_metric(lab, MASTER) == 2
    assert vrrp_state_metric(lab, BACKUP) == 1
    backup_before = instance(lab, BACKUP)
    assert backup_before["master_ip"] == HOSTS[MASTER]
    # Both directors start in BACKUP and race at start-up: the backup may have been MASTER
    # for a moment before the master's first advert. Count from here.
    labels = {"iname": INSTANCE, "intf": "eth1", "vrid": "18"}
    before = metrics(lab, BACKUP)
    became = metric(before, "keepalived_become_master_total", **labels) or 0.0
    released = metric(before, "keepalived_release_master_total", **labels) or 0.0
    moves = {**labels, "from_state": "MASTER", "to_state": "BACKUP"}
    moved = metric(before, "pykeepalived_vrrp_transitions_total", **moves) or 0.0
    lab.kill(f"director:{MASTER}", signal.SIGTERM)
    eventually(lambda: state_is(lab, BACKUP, "MASTER"), what="backup takes over")
    taken = instance(lab, BACKUP)
    assert taken["transitions"][-1]["old"] == "BACKUP"
    assert taken["transitions"][-1]["new"] == "MASTER"
    assert vrrp_state_metric(lab, BACKUP) == 2
    assert status_rows(lab, BACKUP)[INSTANCE][1] == "MASTER"
    assert metric(metrics(lab, BACKUP), "keepalived_become_master_total", **labels) == became + 1
    assert all(requests(lab, 4)), "the backup serves the VIP"
    start_director(lab, MASTER)
    eventually(lambda: state_is(lab, MASTER, "MASTER"), what="master preempts")
    eventually(lambda: state_is(lab, BACKUP, "BACKUP"), what="backup steps back")
    assert vrrp_state_metric(lab, MASTER) == 2
    assert vrrp_state_metric(lab, BACKUP) == 1
    samples = metrics(lab, BACKUP)
    assert metric(samples, "keepalived_release_master_total", **labels) == released + 1
    assert metric(samples, "pykeepalived_vrrp_transitions_total", **moves) == moved + 1


def test_api_and_metrics_follow_a_real_server_failure_and_back(lab: LabState) -> None:
    settle(lab)
    rs_labels = {"virtual_server": VS, "real_server": NODE1}
    assert metric(metrics(lab, MASTER), "pykeepalived_real_server_up", **rs_labels) == 1
    lab.kill("web:node-1", signal.SIGTERM)
    try:
        eventually(lambda: not real_servers(lab, MASTER)[NODE1]["healthy"], what="node-1 down")
        down = real_servers(lab, MASTER)
        assert down[NODE2]["healthy"] is True
        assert down[NODE1]["probes"][0]["up"] is False
        assert down[NODE1]["probes"][0]["ok"] is False
        assert down[NODE1]["probes"][0]["probes_failed"] >= 1  # HTTP_GET retries 1: 2 failures
        # out of the data plane (no inhibit_on_failure); node-2 keeps its weight
        eventually(lambda: real_servers(lab, MASTER)[NODE1]["programmed_weight"] is None,
                   timeout_s=10, what="node-1 removed from the data plane")  # fmt: skip
        assert down[NODE2]["programmed_weight"] == 3
        samples = metrics(lab, MASTER)
        assert metric(samples, "pykeepalived_real_server_up", **rs_labels) == 0
        assert (
            metric(samples, "pykeepalived_real_server_up", virtual_server=VS, real_server=NODE2)
            == 1
        )
        programmed = "pykeepalived_real_server_programmed_weight"
        assert metric(metrics(lab, MASTER), programmed, **rs_labels) is None
        assert metric(samples, programmed, virtual_server=VS, real_server=NODE2) == 3
        assert (
            metric(
                samples,
                "pykeepalived_check_up",
                **rs_labels,
                checker=down[NODE1]["probes"][0]["checker"],
            )
            == 0
        )
        events = get(lab, MASTER, "/api/v1/events")["events"]
        assert any(HOSTS["node-1"] in e["message"] for e in events if e["kind"] != "vrrp")
        eventually(lambda: set(requests(lab, 6)) == {HOSTS["node-2"]}, what="only node-2 serves")
    finally:
        start_web(lab, "node-1")
    eventually(lambda: real_servers(lab, MASTER)[NODE1]["healthy"], what="node-1 back")
    assert metric(metrics(lab, MASTER), "pykeepalived_real_server_up", **rs_labels) == 1


def test_the_real_daemons_answers_match_the_openapi_document(lab: LabState) -> None:
    import jsonschema

    from pykeepalived.api.openapi import build_openapi

    settle(lab)
    doc = build_openapi()
    for path, schema_name in (("/api/v1/snapshot", "DaemonSnapshot"), ("/api/v1/health", "Health")):
        schema = {"$ref": f"#/components/schemas/{schema_name}", "components": doc["components"]}
        for director in (MASTER, BACKUP):
            jsonschema.Draft202012Validator(schema).validate(get(lab, director, path))


def vip_on(lab: LabState, director: str) -> bool:
    out = lab.exec(director, "ip", "-o", "-4", "addr", "show", "dev", "eth1")
    return f" {VIP}/" in out


def test_advert_counters_are_counted_and_grow(lab: LabState) -> None:
    settle(lab)
    labels = {"iname": INSTANCE, "intf": "eth1", "vrid": "18"}
    m1, b1 = instance(lab, MASTER), instance(lab, BACKUP)
    assert m1["adverts_sent"] > 0
    assert b1["adverts_received"] > 0
    assert m1["packet_errors"] == []
    assert b1["packet_errors"] == []
    time.sleep(3.5)  # advert_int 1: at least 3 more adverts
    m2, b2 = instance(lab, MASTER), instance(lab, BACKUP)
    assert m2["adverts_sent"] >= m1["adverts_sent"] + 3
    assert b2["adverts_received"] >= b1["adverts_received"] + 3
    # the backup hears every advert the master sends (same LAN), give or take one in flight
    assert abs((m2["adverts_sent"] - m1["adverts_sent"]) -
               (b2["adverts_received"] - b1["adverts_received"])) <= 1  # fmt: skip
    sent = metric(metrics(lab, MASTER), "keepalived_advertisements_sent_total", **labels)
    rcvd = metric(metrics(lab, BACKUP), "keepalived_advertisements_received_total", **labels)
    assert sent is not None
    assert sent >= m2["adverts_sent"]
    assert rcvd is not None
    assert rcvd >= b2["adverts_received"]


def test_check_latency_histogram_holds_every_real_probe(lab: LabState) -> None:
    settle(lab)
    hist = "pykeepalived_check_latency_seconds"

    def probes_and_samples() -> tuple[dict[str, Any], dict[Any, float]]:
        probe = real_servers(lab, MASTER)[NODE1]["probes"][0]
        return probe, metrics(lab, MASTER)

    probe, samples = probes_and_samples()
    labels = {"virtual_server": VS, "real_server": NODE1, "checker": probe["checker"]}
    first = probe["probes_ok"] + probe["probes_failed"]
    assert first >= 1
    # delay_loop 6: wait for at least one more real probe of node-1
    eventually(
        lambda: (
            (p := real_servers(lab, MASTER)[NODE1]["probes"][0])["probes_ok"] + p["probes_failed"]
            > first
        ),
        timeout_s=20,
        what="another probe of node-1",
    )
    probe, samples = probes_and_samples()
    total = probe["probes_ok"] + probe["probes_failed"]
    count = metric(samples, f"{hist}_count", **labels)
    assert count is not None
    assert total <= count <= total + 1
    assert metric(samples, f"{hist}_bucket", **labels, le="+Inf") == count
    assert (metric(samples, f"{hist}_sum", **labels) or 0) > 0
    # an HTTP probe on a LAN of veths answers within 250 ms, well below the 1 s timeout
    assert metric(samples, f"{hist}_bucket", **labels, le="0.25") == count
    buckets = {b["le"]: b["count"] for b in probe["latency_buckets"]}
    assert buckets["+Inf"] == total
    assert list(buckets.values()) == sorted(buckets.values())


def test_release_master_moves_the_vip_until_reclaim(lab: LabState) -> None:
    settle(lab)
    labels = {"iname": INSTANCE, "intf": "eth1", "vrid": "18"}
    zero_sent = metric(metrics(lab, MASTER), "keepalived_priority_zero_sent_total", **labels)
    zero_rcvd = metric(metrics(lab, BACKUP), "keepalived_priority_zero_received_total", **labels)
    release = f"/api/v1/instances/{INSTANCE}/release-master"
    reclaim = f"/api/v1/instances/{INSTANCE}/reclaim-master"
    assert post(lab, BACKUP, release, {}, token(lab))[0] == 409  # not MASTER there
    status, answer = post(lab, MASTER, release, {}, None)
    assert status == 401
    assert state_is(lab, MASTER, "MASTER")
    status, answer = post(lab, MASTER, reclaim, {}, token(lab))
    assert (status, answer["error"]) == (
        409,
        f"({INSTANCE}) is not held by api: nothing to reclaim",
    )
    released = time.time()
    status, answer = post(lab, MASTER, release, {}, token(lab))
    assert status == 200, answer
    eventually(lambda: state_is(lab, BACKUP, "MASTER"), timeout_s=10, what="backup takes over")
    # priority 0: the backup takes over after its skew time (~0.6 s), not Master_Down (~3.6 s);
    # timed by the backup's own transition record, not by this test's polling
    took_over = instance(lab, BACKUP)["transitions"][-1]
    assert took_over["new"] == "MASTER"
    assert took_over["at"] - released < 3.0, took_over
    eventually(lambda: vip_on(lab, BACKUP) and not vip_on(lab, MASTER), timeout_s=5,
               what="the VIP on the backup only")  # fmt: skip
    held = instance(lab, MASTER)
    assert (held["state"], held["held"], held["held_by"]) == ("BACKUP", True, "api")
    assert held["held_until"] is None
    assert abs(held["held_since"] - time.time()) < 30
    assert held["transitions"][-1]["reason"] == "mastership released by api"
    assert all(requests(lab, 4)), "the backup serves the VIP"
    # a reload keeps the hold; it stays BACKUP: no preemption over two Master_Down intervals
    status, answer = post(lab, MASTER, "/api/v1/reload", {}, token(lab))
    assert status == 200, answer
    time.sleep(8)
    assert instance(lab, MASTER)["held"] is True
    assert state_is(lab, MASTER, "BACKUP")
    assert state_is(lab, BACKUP, "MASTER")
    assert instance(lab, MASTER)["master_ip"] == HOSTS[BACKUP]
    assert vrrp_state_metric(lab, MASTER) == 1
    assert vrrp_state_metric(lab, BACKUP) == 2
    after_sent = metric(metrics(lab, MASTER), "keepalived_priority_zero_sent_total", **labels)
    after_rcvd = metric(metrics(lab, BACKUP), "keepalived_priority_zero_received_total", **labels)
    assert after_sent == (zero_sent or 0) + 1
    assert after_rcvd == (zero_rcvd or 0) + 1
    assert post(lab, MASTER, release, {}, token(lab))[0] == 409  # held, not MASTER
    status, answer = post(lab, MASTER, reclaim, {}, token(lab))
    assert status == 200, answer
    assert instance(lab, MASTER)["held"] is False
    # preempt: back within a Master_Down_Interval (3.6 s) of the next advert
    eventually(lambda: state_is(lab, MASTER, "MASTER"), timeout_s=15, what="master reclaims")
    eventually(lambda: state_is(lab, BACKUP, "BACKUP"), timeout_s=5, what="backup steps back")
    eventually(lambda: vip_on(lab, MASTER) and not vip_on(lab, BACKUP), timeout_s=5,
               what="the VIP back on the master only")  # fmt: skip
    assert all(requests(lab, 4)), "the master serves the VIP again"
    messages = [e["message"] for e in get(lab, MASTER, "/api/v1/events")["events"]]
    assert any("Mastership held by api" in m for m in messages)
    assert any("Mastership hold by api lifted" in m for m in messages)
