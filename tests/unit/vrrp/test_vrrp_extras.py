"""The pure side of routes, rules and VMACs (``vrrp.node_extras``): names, MACs, rule
preferences, and where an instance with use_vmac speaks and puts its VIPs."""

import asyncio
from ipaddress import IPv4Address, IPv6Address, ip_address

from pykeepalived.config.loader import load
from pykeepalived.config.model import KeepalivedConfig
from pykeepalived.kernel.ports import IPAddress
from pykeepalived.vrrp.node_actions import instance_io
from pykeepalived.vrrp.node_extras import NodeExtras, extras_of, static_of, vmac_names

CONF = """
static_rules {
    from 10.0.0.1 table 5
}
vrrp_instance V4 {
    interface eth1
    virtual_router_id 18
    use_vmac
    virtual_ipaddress {
        192.168.88.100/24
        192.168.89.100/24 dev eth2
        192.168.90.100/24 dev eth1
    }
    virtual_ipaddress_excluded {
        fd00::1/64
    }
    virtual_rules {
        from 192.168.88.100 table 100
        to 10.0.0.0/8 table 100 priority 7
    }
}
vrrp_instance V6 {
    interface eth1
    virtual_router_id 18
    use_vmac
    virtual_ipaddress {
        fd00::100/64
    }
}
vrrp_instance NAMED {
    interface eth1
    virtual_router_id 19
    use_vmac vmac19 02:11:22:33:44:55
    vmac_xmit_base
    virtual_ipaddress {
        192.168.88.119/24
    }
}
vrrp_instance UNICAST {
    interface eth1
    virtual_router_id 20
    use_vmac
    unicast_peer {
        192.168.88.9
    }
    virtual_ipaddress {
        192.168.88.120/24
    }
}
"""


def config() -> KeepalivedConfig:
    result = load("t.conf", text=CONF)
    assert result.config is not None, result.diagnostics
    return result.config


def test_names_macs_and_transmit_interface() -> None:
    extras = extras_of(config())
    assert vmac_names(config()) == {"V4": "vrrp.18", "V6": "vrrp6.18", "NAMED": "vmac19",
                                    "UNICAST": "vrrp.20"}  # fmt: skip
    v4, v6, named, unicast = (extras[n].vmac for n in ("V4", "V6", "NAMED", "UNICAST"))
    assert v4 is not None
    assert (v4.mac, v4.base, v4.family) == ("00:00:5e:00:01:12", "eth1", 4)
    assert v6 is not None
    assert v6.mac == "00:00:5e:00:02:12"
    assert named is not None
    assert named.mac == "02:11:22:33:44:55"
    assert extras["NAMED"].xmit_base
    assert unicast is not None
    assert extras["UNICAST"].xmit_base, "keepalived forces it with unicast"
    assert not extras["V4"].xmit_base


def test_rule_preferences_follow_keepalived_s_order() -> None:
    cfg = config()
    (static,) = static_of(cfg).rules
    first, second = extras_of(cfg)["V4"].rules
    assert (static.priority, first.priority, second.priority) == (16384, 16383, 7)


async def _primary(ifname: str, family: int) -> IPAddress:
    return ip_address("fe80::1") if family == 6 else ip_address("192.168.88.8")


def test_a_vmac_instance_speaks_on_it_and_puts_its_vips_on_it() -> None:
    cfg = config()
    node = NodeExtras(extras_of(cfg), None, None)

    async def ios() -> dict[str, object]:
        out: dict[str, object] = {}
        for inst in cfg.vrrp_instance:
            out[inst.name] = node.adjust(await instance_io(inst, cfg, _primary))
        return out

    found = asyncio.run(ios())
    v4, v6, named = found["V4"], found["V6"], found["NAMED"]
    assert v4.ifname == "vrrp.18"  # type: ignore[attr-defined]
    assert [v.ifname for v in v4.vips] == ["vrrp.18", "eth2", "vrrp.18"]  # type: ignore[attr-defined]
    assert [v.ifname for v in v4.excluded] == ["eth1"], "other family: stays on the base"  # type: ignore[attr-defined]
    assert v4.src == IPv4Address("192.168.88.8")  # type: ignore[attr-defined]
    assert named.ifname == "eth1", "vmac_xmit_base: adverts from the base"  # type: ignore[attr-defined]
    assert [v.ifname for v in named.vips] == ["vmac19"]  # type: ignore[attr-defined]
    assert v6.ifname == "vrrp6.18"  # type: ignore[attr-defined]
    vmac6 = node.extras["V6"].vmac
    assert vmac6 is not None
    assert vmac6.link_local == IPv6Address("fe80::1")
