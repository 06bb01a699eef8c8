"""Real-server ports as keepalived programs them: DR and TUN take the service's port."""

from pykeepalived.config.loader import load
from pykeepalived.lvs.desired import compute

CONF = """
virtual_server 192.0.2.1 80 {
    lb_kind DR
    real_server 10.0.0.1 8080 {
    }
    real_server 10.0.0.2 8080 {
        lvs_method NAT
    }
}
virtual_server fwmark 7 {
    lb_kind TUN
    real_server 10.0.0.3 443 {
    }
}
"""


def test_dr_and_tun_real_servers_take_the_service_port() -> None:
    loaded = load("ports.conf", text=CONF)
    assert loaded.config is not None
    table = compute(loaded.config, {}).table
    ports = {
        str(k): sorted((str(d.address), d.port) for d in e.destinations) for k, e in table.items()
    }
    assert ports == {
        "TCP 192.0.2.1:80": [("10.0.0.1", 80), ("10.0.0.2", 8080)],
        "FWM 7": [("10.0.0.3", 0)],
    }
