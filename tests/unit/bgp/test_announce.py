"""The announcement core: gates, phase (announce after the data plane, withdraw first),
the settle delay under a fake clock, and the bgp_speaker config block."""

import pytest

from pykeepalived.bgp.announce import Action, Announcer, Rule, Verb, rules_from_config
from pykeepalived.config.loader import LoadResult, load


def load_text(text: str) -> LoadResult:
    return load("bgp.conf", text=text)


VIP = "192.168.99.100/32"
WEB = "192.168.99.100:80/TCP"
TLS = "192.168.99.100:443/TCP"


def announcer(gate: str = "all", delay: float = 0.0) -> Announcer:
    return Announcer((Rule(prefix=VIP, gate=gate, virtual_servers=(WEB, TLS)),), delay)


def test_nothing_is_announced_before_the_data_plane_is_programmed() -> None:
    a = announcer()
    assert a.before_apply({WEB: True, TLS: True}, 0.0) == []
    assert a.next_deadline(0.0) is None
    assert a.after_apply({WEB: True, TLS: True}, 0.0) == [
        Action(Verb.ANNOUNCE, VIP, "healthy, data plane programmed")
    ]
    assert a.announced == {VIP}


@pytest.mark.parametrize(
    ("gate", "web", "tls", "up"),
    [
        ("all", True, True, True),
        ("all", True, False, False),
        ("any", True, False, True),
        ("any", False, False, False),
        ("always", False, False, True),
    ],
)
def test_gates(gate: str, web: bool, tls: bool, up: bool) -> None:
    a = announcer(gate)
    actions = a.after_apply({WEB: web, TLS: tls}, 0.0)
    assert (a.announced == {VIP}) is up
    assert len(actions) == int(up)


def test_health_loss_withdraws_before_the_apply_and_health_back_announces_after() -> None:
    a = announcer()
    a.after_apply({WEB: True, TLS: True}, 0.0)
    lost = a.before_apply({WEB: False, TLS: True}, 1.0)
    assert [x.verb for x in lost] == [Verb.WITHDRAW]
    assert a.after_apply({WEB: False, TLS: True}, 1.0) == []
    assert a.before_apply({WEB: True, TLS: True}, 2.0) == []  # never announces before
    assert [x.verb for x in a.after_apply({WEB: True, TLS: True}, 2.0)] == [Verb.ANNOUNCE]


def test_a_failed_data_plane_withdraws_and_blocks_the_announcement() -> None:
    a = announcer()
    assert a.after_apply({WEB: True, TLS: True}, 0.0, failed=[TLS]) == []
    a.after_apply({WEB: True, TLS: True}, 1.0)
    out = a.after_apply({WEB: True, TLS: True}, 2.0, failed=[WEB])
    assert out == [Action(Verb.WITHDRAW, VIP, "data plane failed")]
    assert a.next_deadline(2.0) is None  # nothing to wait for: no busy loop on a failure


def test_the_settle_delay_holds_a_returning_director_back() -> None:
    a = announcer(delay=0.5)
    assert a.after_apply({WEB: True, TLS: True}, 10.0) == []
    assert a.next_deadline(10.0) == 10.5
    assert a.after_apply({WEB: True, TLS: True}, 10.4) == []
    assert [x.verb for x in a.after_apply({WEB: True, TLS: True}, 10.5)] == [Verb.ANNOUNCE]
    a.before_apply({WEB: False, TLS: True}, 11.0)
    a.after_apply({WEB: True, TLS: True}, 11.2)  # flapped back: the delay starts again
    assert a.announced == set()
    assert a.next_deadline(11.2) == pytest.approx(11.7)


def test_stop_withdraws_everything_and_announces_nothing_after() -> None:
    a = announcer()
    a.after_apply({WEB: True, TLS: True}, 0.0)
    assert a.stop() == [Action(Verb.WITHDRAW, VIP, "stopping")]
    assert a.after_apply({WEB: True, TLS: True}, 1.0) == []
    assert a.stop() == []


def test_an_impossible_transition_is_a_bug() -> None:
    a = announcer()
    with pytest.raises(AssertionError):
        a._step(Verb.WITHDRAW, VIP, "")


CONF = """
global_defs {
    lvs_hash_seed 0x5eed
}
virtual_server 192.168.99.100 80 {
    protocol TCP
    lb_algo mh
    mh-port
    lb_kind DR
    real_server 192.168.88.10 80 {
        TCP_CHECK {
        }
    }
}
virtual_server 192.168.99.101 80 {
    protocol TCP
    real_server 192.168.88.10 80 {
    }
}
bgp_speaker {
%s
}
"""
SPEAKER = """
    local_as 65001
    local_address 192.168.88.21
    neighbor 192.168.88.1 {
        peer_as 65000
    }
"""


def test_config_block_and_default_rules() -> None:
    result = load_text(CONF % SPEAKER)
    assert result.ok, [d.render() for d in result.diagnostics]
    config = result.config
    assert config is not None
    assert config.bgp_speaker is not None
    assert config.global_defs.lvs_hash_seed == 0x5EED
    assert config.bgp_speaker.speaker == "exabgp"
    assert str(config.bgp_speaker.effective_router_id) == "192.168.88.21"
    rules = rules_from_config(config)
    assert [(r.prefix, r.gate, r.virtual_servers) for r in rules] == [
        ("192.168.99.100/32", "all", ("192.168.99.100:80/TCP",)),
        ("192.168.99.101/32", "all", ("192.168.99.101:80/TCP",)),
    ]


def test_config_announce_lines() -> None:
    text = SPEAKER + "    announce {\n        192.168.99.101 any\n        10.9.9.9 always\n    }\n"
    result = load_text(CONF % text)
    assert result.config is not None
    rules = rules_from_config(result.config)
    assert [(r.prefix, r.gate, r.virtual_servers) for r in rules] == [
        ("192.168.99.101/32", "any", ("192.168.99.101:80/TCP",)),
        ("10.9.9.9/32", "always", ()),
    ]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("neighbor 192.168.88.1 {\n peer_as 65000\n}", "local_as is required"),
        ("local_as 65001\nrouter_id 1.1.1.1", "at least one neighbor"),
        ("local_as 65001\nneighbor 192.168.88.1 {\n peer_as 65000\n}", "router_id is required"),
        (SPEAKER + "bfd", "ExaBGP has no BFD"),
        (SPEAKER + "hold_time 2", "hold_time must be 0 or at least 3"),
        (SPEAKER + "speaker gobgp", "unknown BGP speaker 'gobgp'"),
        (SPEAKER + "announce {\n 192.168.99.100 sometimes\n}", "unknown gate 'sometimes'"),
        ("local_as 65001\nlocal_address 192.168.88.21\nneighbor 192.168.88.1 {\n}", "peer_as"),
    ],
)
def test_config_errors_are_diagnostics(body: str, message: str) -> None:
    result = load_text(CONF % body)
    assert not result.ok
    assert any(message in d.render() for d in result.errors), [d.render() for d in result.errors]


def test_a_prefix_that_left_the_rules_is_withdrawn() -> None:
    a = announcer()
    a.after_apply({WEB: True, TLS: True}, 0.0)
    a.rules = ()
    assert a.before_apply({WEB: True, TLS: True}, 1.0) == [
        Action(Verb.WITHDRAW, VIP, "no longer announced")
    ]
    assert a.announced == set()


def test_config_check_warns_when_an_announced_service_is_not_hashed() -> None:
    text = (CONF % SPEAKER).replace("    lb_algo mh\n    mh-port\n", "    lb_algo wlc\n")
    text = text.replace(
        "    protocol TCP\n    real_server 192.168.88.10 80 {\n    }",
        "    protocol TCP\n    lb_algo mh\n    real_server 192.168.88.10 80 {\n    }",
    )
    result = load_text(text)
    assert result.ok
    warnings = [d.render() for d in result.diagnostics if not d.is_error]
    assert any("lb_algo wlc" in w and "need 'lb_algo mh'" in w for w in warnings), warnings
    assert any("without mh-port" in w for w in warnings), warnings


def test_config_check_warns_about_an_announce_line_with_no_service() -> None:
    text = SPEAKER + "    announce {\n        10.9.9.9\n    }\n"
    result = load_text(CONF % text)
    warnings = [d.render() for d in result.diagnostics if not d.is_error]
    assert any("announce 10.9.9.9: no virtual_server" in w for w in warnings), warnings


def test_config_check_warns_about_a_speaker_with_no_virtual_server() -> None:
    result = load_text("bgp_speaker {\n" + SPEAKER + "}\n")
    warnings = [d.render() for d in result.diagnostics if not d.is_error]
    assert any("without any virtual_server" in w for w in warnings), warnings
