"""Prometheus metrics built from a ``DaemonSnapshot`` at each scrape.

Rules: L5, reads snapshots only. Names follow the keepalived exporters where one exists
(mehdy/keepalived-exporter for VRRP, gen2brain/keepalived_exporter for LVS); the rest are
``pykeepalived_*``. docs/metrics.md is the mapping. Every value is the daemon's own count (the
snapshot), never counted here: the probe latency histogram is the checker runner's tally of
every probe result.
"""

from collections.abc import Callable, Iterable

from prometheus_client.core import (
    CollectorRegistry,
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from pykeepalived.state import CountersView, DaemonSnapshot, InstanceView

# keepalived's numeric states, as the exporters report them (vrrp_t.state).
VRRP_STATES = {"INIT": 0, "BACKUP": 1, "MASTER": 2, "FAULT": 3}
# mehdy/keepalived-exporter's per-instance error counters, by the reasons that feed them.
EXPORTER_ERRORS = {
    "keepalived_packet_length_errors": ("Packet length errors", ("length",)),
    "keepalived_advertisements_interval_errors": ("Advert interval errors", ("interval",)),
    "keepalived_ip_ttl_errors": ("TTL errors", ("ttl",)),
    "keepalived_invalid_type_received": ("Invalid type errors", ("type",)),
    "keepalived_address_list_errors": ("Address list errors", ("addr_list", "addr_count")),
    "keepalived_authentication_mismatch": ("Authentication type mismatch", ("auth_type",)),
    "keepalived_authentication_failure": ("Authentication failure", ("auth",)),
}


class SnapshotCollector(Collector):
    def __init__(self, snapshot: Callable[[], DaemonSnapshot]) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterable[Metric]:
        snap = self._snapshot()
        yield from _daemon(snap)
        yield from _vrrp(snap)
        yield from _vrrp_errors(snap)
        yield from _checks(snap)
        yield _latency(snap)
        yield from _real_servers(snap)
        yield from _lvs(snap)
        yield from _bgp(snap)


def registry_for(snapshot: Callable[[], DaemonSnapshot]) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(snapshot))
    return registry


def _daemon(snap: DaemonSnapshot) -> Iterable[Metric]:
    yield GaugeMetricFamily("keepalived_up", "The daemon answers (always 1 when scraped)", 1)
    info = GaugeMetricFamily(
        "pykeepalived_info", "Version and data plane", labels=["version", "backend"]
    )
    info.add_metric([snap.version, snap.backend], 1)
    yield info
    yield GaugeMetricFamily(
        "pykeepalived_start_time_seconds", "Daemon start, Unix time", snap.started_at
    )
    yield CounterMetricFamily("pykeepalived_reloads", "Configuration reloads", snap.reloads)
    errors = CounterMetricFamily(
        "pykeepalived_vrrp_packet_errors", "VRRP packets dropped, by reason", labels=["reason"]
    )
    for reason, count in snap.packet_errors:
        errors.add_metric([reason], count)
    yield errors
    mails = CounterMetricFamily(
        "pykeepalived_smtp_alerts", "E-mail alerts by outcome (docs/alerts.md)", labels=["result"]
    )
    for result, count in snap.smtp_alerts:
        mails.add_metric([result], count)
    yield mails


def _instance_labels(i: InstanceView) -> list[str]:
    return [i.name, i.interface, str(i.virtual_router_id)]


def _vrrp(snap: DaemonSnapshot) -> Iterable[Metric]:
    labels = ["iname", "intf", "vrid"]
    state = GaugeMetricFamily(
        "keepalived_vrrp_state",
        "VRRP state: 0 INIT, 1 BACKUP, 2 MASTER, 3 FAULT (one series per VIP)",
        labels=[*labels, "ip_address"],
    )
    families: dict[str, CounterMetricFamily | GaugeMetricFamily] = {
        "rcvd": CounterMetricFamily("keepalived_advertisements_received", "Adverts received",
                                    labels=labels),
        "sent": CounterMetricFamily("keepalived_advertisements_sent", "Adverts sent",
                                    labels=labels),
        "zero_rcvd": CounterMetricFamily("keepalived_priority_zero_received",
                                         "Priority 0 adverts received", labels=labels),
        "zero_sent": CounterMetricFamily("keepalived_priority_zero_sent",
                                         "Priority 0 adverts sent", labels=labels),
        "become": CounterMetricFamily("keepalived_become_master", "Transitions to MASTER",
                                      labels=labels),
        "release": CounterMetricFamily("keepalived_release_master",
                                       "Transitions out of MASTER", labels=labels),
        "restored": CounterMetricFamily("pykeepalived_vrrp_vips_restored",
                                        "VIPs put back after something else removed them",
                                        labels=labels),
        "prio": GaugeMetricFamily("pykeepalived_vrrp_priority", "Configured priority",
                                  labels=labels),
        "eprio": GaugeMetricFamily("pykeepalived_vrrp_effective_priority",
                                   "Priority after tracking", labels=labels),
        "master": GaugeMetricFamily("pykeepalived_vrrp_is_master", "1 if MASTER", labels=labels),
    }  # fmt: skip
    moves = CounterMetricFamily(
        "pykeepalived_vrrp_transitions",
        "State transitions by old and new state, since the daemon started",
        labels=[*labels, "from_state", "to_state"],
    )
    for i in snap.instances:
        base = _instance_labels(i)
        value = VRRP_STATES.get(i.state, 0)
        for vip in i.vips or ("",):
            state.add_metric([*base, vip.split("/")[0]], value)
        families["rcvd"].add_metric(base, i.adverts_received)
        families["sent"].add_metric(base, i.adverts_sent)
        families["zero_rcvd"].add_metric(base, i.priority_zero_received)
        families["zero_sent"].add_metric(base, i.priority_zero_sent)
        families["become"].add_metric(
            base, sum(n for _, new, n in i.state_changes if new == "MASTER")
        )
        families["release"].add_metric(
            base, sum(n for old, _, n in i.state_changes if old == "MASTER")
        )
        families["restored"].add_metric(base, i.vips_restored)
        families["prio"].add_metric(base, i.priority)
        families["eprio"].add_metric(base, i.effective_priority)
        families["master"].add_metric(base, 1 if i.state == "MASTER" else 0)
        for old, new, n in i.state_changes:
            moves.add_metric([*base, old, new], n)
    yield state
    yield from families.values()
    yield moves


def _vrrp_errors(snap: DaemonSnapshot) -> Iterable[Metric]:
    """Adverts an instance refused: by reason, and as the exporter's per-kind counters."""
    labels = ["iname", "intf", "vrid"]
    by_reason = CounterMetricFamily(
        "pykeepalived_vrrp_instance_packet_errors",
        "Adverts for this instance it refused, by reason",
        labels=[*labels, "reason"],
    )
    exporter = {
        name: CounterMetricFamily(name, text, labels=labels)
        for name, (text, _) in EXPORTER_ERRORS.items()
    }
    for i in snap.instances:
        base = _instance_labels(i)
        errors = dict(i.packet_errors)
        for reason, count in i.packet_errors:
            by_reason.add_metric([*base, reason], count)
        for name, (_, reasons) in EXPORTER_ERRORS.items():
            exporter[name].add_metric(base, sum(errors.get(r, 0) for r in reasons))
    yield by_reason
    yield from exporter.values()


def _latency(snap: DaemonSnapshot) -> HistogramMetricFamily:
    h = HistogramMetricFamily(
        "pykeepalived_check_latency_seconds",
        "Health check probe latency, every probe since the checker started",
        labels=["virtual_server", "real_server", "checker"],
    )
    for vs in snap.virtual_servers:
        for rs in vs.real_servers:
            for probe in rs.probes:
                if probe.latency_buckets:
                    key = [vs.id, f"{rs.address}:{rs.port}", probe.checker]
                    h.add_metric(key, list(probe.latency_buckets), probe.latency_sum_s)
    return h


def _checks(snap: DaemonSnapshot) -> Iterable[Metric]:
    results = CounterMetricFamily(
        "pykeepalived_check_results", "Probe results by checker kind", labels=["checker", "result"]
    )
    for checker, result, count in snap.check_results:
        results.add_metric([checker, result], count)
    yield results
    labels = ["virtual_server", "real_server", "checker"]
    up = GaugeMetricFamily(
        "pykeepalived_check_up", "Checker verdict (after rise/fall)", labels=labels
    )
    last = GaugeMetricFamily(
        "pykeepalived_check_last_latency_seconds", "Latency of the last probe", labels=labels
    )
    for vs in snap.virtual_servers:
        for rs in vs.real_servers:
            for probe in rs.probes:
                key = [vs.id, f"{rs.address}:{rs.port}", probe.checker]
                up.add_metric(key, 1 if probe.up else 0)
                if probe.latency_s is not None:
                    last.add_metric(key, probe.latency_s)
    yield up
    yield last


def _real_servers(snap: DaemonSnapshot) -> Iterable[Metric]:
    labels = ["virtual_server", "real_server"]
    g = {
        "up": GaugeMetricFamily("pykeepalived_real_server_up", "Healthy (1) or not (0)",
                                labels=labels),
        "weight": GaugeMetricFamily("pykeepalived_real_server_weight",
                                    "Weight the daemon wants now (drained: 0)", labels=labels),
        "configured": GaugeMetricFamily("pykeepalived_real_server_configured_weight",
                                        "Weight in the configuration", labels=labels),
        "programmed": GaugeMetricFamily("pykeepalived_real_server_programmed_weight",
                                        "Weight in the data plane (absent: not in the table)",
                                        labels=labels),
        "drained": GaugeMetricFamily("pykeepalived_real_server_drained",
                                     "Drained by an operator (1)", labels=labels),
    }  # fmt: skip
    quorum = GaugeMetricFamily(
        "pykeepalived_virtual_server_quorum_up", "Quorum met (1)", labels=["virtual_server"]
    )
    for vs in snap.virtual_servers:
        quorum.add_metric([vs.id], 1 if vs.quorum_up else 0)
        for rs in vs.real_servers:
            key = [vs.id, f"{rs.address}:{rs.port}"]
            g["up"].add_metric(key, 1 if rs.healthy else 0)
            g["weight"].add_metric(key, rs.weight)
            g["configured"].add_metric(key, rs.configured_weight)
            if rs.programmed_weight is not None:
                g["programmed"].add_metric(key, rs.programmed_weight)
            g["drained"].add_metric(key, 1 if rs.drained else 0)
    yield from g.values()
    yield quorum


COUNTER_FIELDS = (
    ("conn", "connections", "Connections scheduled"),
    ("in_packets", "packets_in", "Packets in"),
    ("out_packets", "packets_out", "Packets out"),
    ("in_bytes", "bytes_in", "Bytes in"),
    ("out_bytes", "bytes_out", "Bytes out"),
)


def _lvs(snap: DaemonSnapshot) -> Iterable[Metric]:
    for scope, labels in (("vip", ["virtual_server"]), ("rs", ["virtual_server", "real_server"])):
        for suffix, field, help_text in COUNTER_FIELDS:
            family = CounterMetricFamily(
                f"keepalived_lvs_{scope}_{suffix}", f"{help_text} (data plane)", labels=labels
            )
            for key, counters in _counter_rows(snap, scope):
                family.add_metric(key, getattr(counters, field))
            yield family
    for kind in ("active", "inactive"):
        gauge = GaugeMetricFamily(
            f"pykeepalived_lvs_rs_{kind}_connections",
            f"{kind.capitalize()} connections now (data plane)",
            labels=["virtual_server", "real_server"],
        )
        for key, counters in _counter_rows(snap, "rs"):
            gauge.add_metric(key, getattr(counters, f"{kind}_connections"))
        yield gauge


def _bgp(snap: DaemonSnapshot) -> Iterable[Metric]:
    announced = GaugeMetricFamily(
        "pykeepalived_bgp_announced",
        "1 while this director announces the prefix over BGP (bgp_speaker), else 0",
        labels=["prefix", "speaker"],
    )
    for view in snap.bgp:
        announced.add_metric([view.prefix, view.speaker], int(view.announced))
    yield announced


def _counter_rows(snap: DaemonSnapshot, scope: str) -> Iterable[tuple[list[str], CountersView]]:
    for vs in snap.virtual_servers:
        if scope == "vip":
            yield [vs.id], vs.counters
            continue
        for rs in vs.real_servers:
            yield [vs.id, f"{rs.address}:{rs.port}"], rs.counters
