"""Keywords and defaults checked against keepalived 2.2.7 (its parsers and keepalived.conf(5)).

One small config per behaviour; the corpus (test_corpus.py) covers them in realistic files.
"""

from ipaddress import IPv4Address

import pytest

from pykeepalived.config.loader import LoadResult, load
from pykeepalived.config.model import KeepalivedConfig

VS_HEAD = "virtual_server 10.0.0.1 80 {\n    protocol TCP\n"
CHECK = "        TCP_CHECK {\n            connect_timeout 1\n        }\n"


UNAPPLIED = "is read but pykeepalived does not act on it"


def _load(text: str) -> LoadResult:
    return load("test.conf", text=text, config_id="lb1", environment=None)


def _ok(text: str) -> KeepalivedConfig:
    """Parsed with no diagnostic but the "read, not acted on" ones (``test_unapplied``)."""
    result = _load(text)
    assert [d.render() for d in result.diagnostics if UNAPPLIED not in d.message] == []
    assert result.config is not None
    return result.config


def test_real_server_without_weight_takes_the_virtual_servers() -> None:
    config = _ok(
        VS_HEAD
        + "    weight 7\n"
        + "    real_server 10.0.1.1 80 {\n"
        + CHECK
        + "    }\n"
        + "    real_server 10.0.1.2 80 {\n        weight 2\n"
        + CHECK
        + "    }\n}\n"
    )
    (vs,) = config.virtual_server
    assert [rs.weight for rs in vs.real_server] == [7, 2]


def test_missing_protocol_warns_that_keepalived_uses_udp() -> None:
    result = _load(
        "virtual_server 10.0.0.1 80 {\n    real_server 10.0.1.1 80 {\n" + CHECK + "}\n}\n"
    )

    assert result.ok
    (warning,) = result.warnings
    assert warning.code == "default"
    assert "keepalived 2.2.7 uses UDP" in warning.message


def test_url_defaults_to_status_200_299_and_http_1_0() -> None:
    config = _ok(
        VS_HEAD + "    real_server 10.0.1.1 80 {\n        HTTP_GET {\n"
        "            url {\n                path /\n            }\n        }\n    }\n}\n"
    )
    (check,) = config.virtual_server[0].real_server[0].HTTP_GET
    assert check.http_protocol == "1.0"
    assert [(r.low, r.high) for r in check.url[0].status_code] == [(200, 299)]


def test_sync_group_names_may_share_a_line() -> None:
    instances = "".join(
        f"vrrp_instance {n} {{\n interface eth0\n virtual_router_id {i}\n"
        f" virtual_ipaddress {{\n  10.0.0.{i}\n }}\n}}\n"
        for i, n in ((1, "A"), (2, "B"), (3, "C"))
    )
    config = _ok(instances + "vrrp_sync_group G {\n group {\n  A B\n  C\n }\n}\n")
    assert [m.name for m in config.vrrp_sync_group[0].group] == ["A", "B", "C"]


def test_global_tracking_is_the_deprecated_sync_group_tracking_weight() -> None:
    result = _load("vrrp_sync_group G {\n global_tracking\n}\n")
    assert result.config is not None
    assert result.config.vrrp_sync_group[0].sync_group_tracking_weight
    assert [d.code for d in result.warnings] == ["deprecated"]


@pytest.mark.parametrize(
    ("line", "instance", "sync_id"),
    [
        ("lvs_sync_daemon eth1", None, None),
        ("lvs_sync_daemon eth1 VI_1 id 4", "VI_1", 4),
        ("lvs_sync_daemon eth1 inst VI_1", "VI_1", None),
    ],
)
def test_lvs_sync_daemon(line: str, instance: str | None, sync_id: int | None) -> None:
    sync = _ok(f"global_defs {{\n {line}\n}}\n").global_defs.lvs_sync_daemon
    assert sync is not None
    assert (sync.interface, sync.vrrp_instance, sync.id) == ("eth1", instance, sync_id)
    assert (sync.port, sync.group) == (8848, IPv4Address("224.0.0.81"))


def test_vip_broadcast_plus_and_garp_extra_if() -> None:
    config = _ok(
        "vrrp_instance V {\n interface eth0\n virtual_router_id 1\n garp_extra_if all 60\n"
        " virtual_ipaddress {\n  10.0.0.1/24 brd + preferred_lft forever\n }\n}\n"
    )
    (inst,) = config.vrrp_instance
    assert inst.virtual_ipaddress[0].brd == "+"
    assert inst.garp_extra_if is not None
    assert (inst.garp_extra_if.all, inst.garp_extra_if.interval_s) == (True, 60)


def test_garp_interval_belongs_to_garp_group_not_the_instance() -> None:
    result = _load(
        "vrrp_instance V {\n interface eth0\n virtual_router_id 1\n garp_interval 1\n"
        " virtual_ipaddress {\n  10.0.0.1\n }\n}\n"
    )
    assert [d.code for d in result.errors] == ["unknown"]


def test_track_process_delay_sets_fork_and_terminate_delay() -> None:
    config = _ok("vrrp_track_process P {\n process haproxy\n delay 1.5\n}\n")
    (process,) = config.vrrp_track_process
    assert (process.fork_delay, process.terminate_delay, process.quorum) == (1.5, 1.5, 1)


def test_every_keepalived_top_level_keyword_is_accepted() -> None:
    config = _ok(
        "linkbeat_use_polling\nnamespace_with_ipsets\nchild_wait_time 5\n"
        "track_group TG {\n group {\n  VI_1\n }\n}\n"
        "linkbeat_interfaces {\n eth0 ETHTOOL\n}\n"
        "interface_up_down_delays {\n eth0 0.5\n}\n"
        "bfd_instance B {\n neighbor_ip 10.0.0.2\n hoplimit 64\n}\n"
        "garp_group {\n garp_interval 0.01\n interfaces {\n  eth0\n  eth1\n }\n}\n"
    )
    assert config.linkbeat_use_polling
    assert config.namespace_with_ipsets
    assert config.child_wait_time == 5
    assert config.linkbeat_interfaces[0].method == "ETHTOOL"
    assert config.interface_up_down_delays[0].up_delay_s == 0.0  # keepalived's parser
    assert config.bfd_instance[0].ttl == 64
    assert config.garp_group[0].interfaces == ("eth0", "eth1")
