"""The seed's two director configs load with only the nat_mask warning and the seed's values."""

from pathlib import Path

import pytest

from pykeepalived.config.loader import load

SEED = Path(__file__).parents[2] / "examples" / "seed"


@pytest.mark.parametrize(("name", "priority"), [("master", 100), ("backup", 99)])
def test_seed_director_config(name: str, priority: int) -> None:
    result = load(str(SEED / f"keepalived-{name}.conf"))

    assert result.ok
    assert [(d.severity.value, d.location.line, d.code) for d in result.diagnostics] == [
        ("warning", 38, "deprecated")
    ]
    assert "nat_mask" in result.diagnostics[0].message
    config = result.config
    assert config is not None
    (inst,) = config.vrrp_instance
    assert (inst.name, inst.virtual_router_id, inst.priority) == ("HA_WebServer", 18, priority)
    assert (inst.state, inst.interface, inst.advert_int) == ("MASTER", "eth1", 1.0)
    assert inst.authentication is not None
    assert (inst.authentication.auth_type, inst.authentication.auth_pass) == ("PASS", "123456")
    assert [str(v.address) for v in inst.virtual_ipaddress] == ["192.168.88.100/24"]
    assert (inst.garp_master_refresh, inst.garp_master_refresh_repeat) == (10, 2)
    (vs,) = config.virtual_server
    assert (str(vs.ip), vs.port, vs.protocol) == ("192.168.88.100", 80, "TCP")
    assert (vs.lvs_sched, vs.lvs_method.kind, vs.delay_loop) == ("wlc", "DR", 6.0)
    assert [(str(rs.ip), rs.port, rs.weight) for rs in vs.real_server] == [
        ("192.168.88.10", 80, 3),
        ("192.168.88.11", 80, 3),
    ]
    for rs in vs.real_server:
        (check,) = rs.HTTP_GET
        assert check.connect_timeout == 1.0
        (url,) = check.url
        assert url.path == "/"
        assert [(r.low, r.high) for r in url.status_code or ()] == [(200, 200)]
