"""/metrics: parsed with prometheus_client's own parser; values equal the snapshot's."""

import asyncio
import shutil
import subprocess

import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.api.conftest import api_client, auth
from tests.api.fakes import VS_ID, FakeDaemon, tally

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            key = (s.name, frozenset(s.labels.items()))
            assert key not in out, f"duplicate series {key}"
            out[key] = s.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


async def scrape(daemon: FakeDaemon, token_file: str | None = None) -> str:
    async with api_client(daemon, token_file) as client:
        resp = await client.get("/metrics")
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return await resp.text()


VI = {"iname": "VI_1", "intf": "eth1", "vrid": "51"}
RS = {"virtual_server": VS_ID, "real_server": "192.168.88.10:80"}


def test_metrics_report_the_snapshot() -> None:
    samples = parse(asyncio.run(scrape(FakeDaemon())))
    assert value(samples, "keepalived_up") == 1
    assert value(samples, "keepalived_vrrp_state", **VI, ip_address="192.168.88.100") == 2
    assert value(samples, "keepalived_advertisements_sent_total", **VI) == 12
    assert value(samples, "keepalived_advertisements_received_total", **VI) == 3
    assert value(samples, "keepalived_become_master_total", **VI) == 1
    assert value(samples, "keepalived_release_master_total", **VI) == 0
    moves = {"from_state": "BACKUP", "to_state": "MASTER"}
    assert value(samples, "pykeepalived_vrrp_transitions_total", **VI, **moves) == 1
    assert value(samples, "pykeepalived_vrrp_packet_errors_total", reason="bad ttl") == 2
    assert value(samples, "pykeepalived_smtp_alerts_total", result="sent") == 5
    assert value(samples, "pykeepalived_smtp_alerts_total", result="dropped") == 1
    assert (
        value(samples, "pykeepalived_check_results_total", checker="HTTP_GET", result="timeout")
        == 1
    )
    assert value(samples, "pykeepalived_real_server_up", **RS) == 1
    assert value(samples, "pykeepalived_real_server_weight", **RS) == 1
    assert value(samples, "keepalived_lvs_rs_conn_total", **RS) == 10
    assert value(samples, "keepalived_lvs_rs_out_bytes_total", **RS) == 9000
    assert value(samples, "keepalived_lvs_vip_in_packets_total", virtual_server=VS_ID) == 80
    check = {**RS, "checker": "HTTP_GET #0"}
    assert value(samples, "pykeepalived_check_up", **check) == 1


def test_drain_shows_in_metrics_weight_and_drained(token_file: str) -> None:
    async def body() -> str:
        daemon = FakeDaemon()
        async with api_client(daemon, token_file) as client:
            payload = {"virtual_server": VS_ID, "address": "192.168.88.10", "port": 80}
            resp = await client.post("/api/v1/real-servers/drain", json=payload, headers=auth())
            assert resp.status == 200
            return await (await client.get("/metrics")).text()

    samples = parse(asyncio.run(body()))
    assert value(samples, "pykeepalived_real_server_weight", **RS) == 0
    assert value(samples, "pykeepalived_real_server_programmed_weight", **RS) == 0
    assert value(samples, "pykeepalived_real_server_drained", **RS) == 1
    other = {**RS, "real_server": "192.168.88.11:80"}
    assert value(samples, "pykeepalived_real_server_weight", **other) == 1


def test_the_latency_histogram_is_the_runners_tally_of_every_probe() -> None:
    samples = parse(asyncio.run(scrape(FakeDaemon())))
    check = {**RS, "checker": "HTTP_GET #0"}
    hist = "pykeepalived_check_latency_seconds"
    # fakes.real_server: three probes, 0.5 ms, 2 ms, 2 ms
    assert value(samples, f"{hist}_count", **check) == 3
    assert value(samples, f"{hist}_sum", **check) == pytest.approx(0.0045)
    assert value(samples, f"{hist}_bucket", **check, le="0.001") == 1
    assert value(samples, f"{hist}_bucket", **check, le="0.0025") == 3
    assert value(samples, f"{hist}_bucket", **check, le="+Inf") == 3
    slow = {**check, "real_server": "192.168.88.11:80"}  # 0.5 ms, then 300 ms twice
    assert value(samples, f"{hist}_bucket", **slow, le="0.25") == 1
    assert value(samples, f"{hist}_bucket", **slow, le="0.5") == 3


def test_probe_tally_buckets_are_inclusive_upper_bounds() -> None:
    t = tally(0.001, 0.0010001, 10.0, 11.0, failed=1)
    assert (t.ok, t.failed) == (3, 1)
    counts = dict(t.cumulative())
    assert (counts["0.001"], counts["0.0025"], counts["10.0"], counts["+Inf"]) == (1, 2, 3, 4)
    assert list(counts) == sorted(counts, key=lambda le: float(le))


def test_vrrp_counters_and_refusals_per_instance_with_the_exporters_names() -> None:
    samples = parse(asyncio.run(scrape(FakeDaemon())))
    assert value(samples, "keepalived_priority_zero_sent_total", **VI) == 1
    assert value(samples, "keepalived_priority_zero_received_total", **VI) == 2
    assert value(samples, "keepalived_ip_ttl_errors_total", **VI) == 4
    assert value(samples, "keepalived_address_list_errors_total", **VI) == 3  # list + count
    assert value(samples, "keepalived_authentication_failure_total", **VI) == 0
    reason = "pykeepalived_vrrp_instance_packet_errors_total"
    assert value(samples, reason, **VI, reason="addr_list") == 2


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_promtool_check_metrics_is_clean() -> None:
    text = asyncio.run(scrape(FakeDaemon()))
    done = subprocess.run(
        ["promtool", "check", "metrics"],
        input=text,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_openmetrics_exposition_passes_the_strict_parser() -> None:
    """The OpenMetrics parser is strict (counter suffixes, histogram buckets, EOF)."""
    from prometheus_client.openmetrics.parser import (
        text_string_to_metric_families as strict_families,
    )

    async def body() -> str:
        async with api_client(FakeDaemon()) as client:
            accept = "application/openmetrics-text; version=1.0.0"
            resp = await client.get("/metrics", headers={"Accept": accept})
            assert resp.headers["Content-Type"].startswith("application/openmetrics-text")
            return await resp.text()

    families = {f.name: f for f in strict_families(asyncio.run(body()))}
    assert families["keepalived_advertisements_sent"].type == "counter"
    assert families["pykeepalived_check_latency_seconds"].type == "histogram"
