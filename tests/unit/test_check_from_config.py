"""keepalived.conf -> checks: inheritance, defaults and params as keepalived resolves them.

Expected values come from keepalived's sources (check_data.c validate_check_config for the
inheritance, check_api.c queue_checker and the per-checker handlers for the defaults).
"""

from ipaddress import ip_address
from pathlib import Path
from typing import Any

import pytest

from pykeepalived.check.from_config import (
    CheckerKey,
    ChecksPlan,
    RealServerKey,
    build,
    system_users,
)
from pykeepalived.check.hysteresis import CheckerDown
from pykeepalived.check.runner import Check
from pykeepalived.config.loader import load
from pykeepalived.config.model import KeepalivedConfig
from pykeepalived.lvs.desired import real_server_id

SEED = Path(__file__).parents[2] / "examples" / "seed" / "keepalived-master.conf"
VS = "10.0.0.1:80/TCP"


def config(text: str) -> KeepalivedConfig:
    result = load("test.conf", text=text)
    assert not result.errors, [d.render() for d in result.errors]
    assert result.config is not None
    return result.config


def one_server(checker: str, vs: str = "", rs: str = "", top: str = "") -> str:
    return (
        f"{top}\nvirtual_server 10.0.0.1 80 {{\n{vs}\n"
        f"real_server 10.0.0.2 80 {{\n{rs}\n{checker}\n}}\n}}\n"
    )


def plan_of(text: str, **kwargs: Any) -> ChecksPlan:
    return build(config(text), **kwargs)


def only(text: str, **kwargs: Any) -> Check:
    plan = plan_of(text, **kwargs)
    assert not plan.notes, plan.notes
    (check,) = plan.checks
    return check


def probe_args(check: Check) -> tuple[Any, Any]:
    """The (target, params) bound into the check's probe."""
    return check.probe.args  # type: ignore[attr-defined,no-any-return]


# -- the seed -------------------------------------------------------------------------------


def test_seed_gives_two_http_checks_as_keepalived_runs_them() -> None:
    seed = load(str(SEED)).config
    assert seed is not None
    plan = build(seed)
    assert plan.notes == ()
    assert [c.key for c in plan.checks] == [
        CheckerKey(RealServerKey("192.168.88.100:80/TCP", ip_address(f"192.168.88.{n}"), 80),
                   "HTTP_GET", 0)
        for n in (10, 11)
    ]  # fmt: skip
    for check, n in zip(plan.checks, (10, 11), strict=True):
        target, params = probe_args(check)
        assert (target.connect_ip, target.connect_port) == (f"192.168.88.{n}", 80)
        assert target.connect_timeout_s == 1.0
        assert check.timeout_s == 1.0
        (url,) = params.urls
        assert (url.path, url.status_code, url.digest) == ("/", ((200, 200),), None)
        assert not params.ssl
        h = check.hysteresis
        assert (h.delay_loop_s, h.retry, h.delay_before_retry_s) == (6.0, 1, 3.0)
        assert (h.effective_warmup_s, h.alpha, h.rise, h.fall) == (6.0, False, 1, 1)
    assert [(s.key.address, s.weight, dict(s.checkers)) for s in plan.servers] == [
        (c.key.real_server.address, 3, {c.key: True}) for c in plan.checks
    ]


def test_real_server_keys_have_the_lvs_layers_fields() -> None:
    seed = load(str(SEED)).config
    assert seed is not None
    plan = build(seed)
    (vs,) = seed.virtual_server
    for server, rs in zip(plan.servers, vs.real_server, strict=True):
        rid = real_server_id(vs, rs)
        assert (server.key.virtual_server, server.key.address, server.key.port) == (
            rid.virtual_server, rid.address, rid.port,
        )  # fmt: skip


# -- inheritance: checker <- real_server <- virtual_server <- keepalived's type default ------

TIMING = "delay_loop_s retry delay_before_retry_s effective_warmup_s alpha rise fall".split()


@pytest.mark.parametrize(
    ("checker", "vs", "rs", "expected"),
    [
        # keepalived defaults: delay_loop 60, retry 1, delay_before_retry 1 s, warmup = delay_loop
        ("TCP_CHECK {}", "", "", (60.0, 1, 1.0, 60.0, False, 1, 1)),
        ("HTTP_GET { url { path / } }", "", "", (60.0, 1, 3.0, 60.0, False, 1, 1)),
        ("SSL_GET { url { path / } }", "", "", (60.0, 1, 3.0, 60.0, False, 1, 1)),
        ("DNS_CHECK {}", "delay_loop 7", "", (7.0, 3, 7.0, 7.0, False, 1, 1)),
        ("MISC_CHECK { misc_path /bin/true }", "", "", (60.0, 0, 1.0, 60.0, False, 1, 1)),
        ("SMTP_CHECK {}", "", "", (60.0, 1, 1.0, 60.0, False, 1, 1)),
        ("UDP_CHECK {}", "", "", (60.0, 1, 1.0, 60.0, False, 1, 1)),
        ("PING_CHECK {}", "", "", (60.0, 1, 1.0, 60.0, False, 1, 1)),
        # the virtual server's values reach the checker
        ("TCP_CHECK {}", "delay_loop 6\nretry 4\ndelay_before_retry 2\nwarmup 3\nalpha",
         "", (6.0, 4, 2.0, 3.0, True, 1, 1)),
        ("DNS_CHECK {}", "retry 0", "", (60.0, 0, 60.0, 60.0, False, 1, 1)),
        # the real server's win over the virtual server's
        ("TCP_CHECK {}", "delay_loop 6\nretry 4\nalpha",
         "delay_loop 2\nretry 2\nalpha no\nrise 3\nfall 2", (2.0, 2, 1.0, 2.0, False, 3, 2)),
        ("HTTP_GET { url { path / } }", "delay_before_retry 9", "delay_before_retry 4",
         (60.0, 1, 4.0, 60.0, False, 1, 1)),
        # the checker's win over both
        ("TCP_CHECK { delay_loop 1\nretry 0\nwarmup 0\nalpha\nrise 5\nfall 4 }",
         "delay_loop 6\nretry 4\nwarmup 3", "retry 2\nalpha no\nrise 3",
         (1.0, 0, 1.0, 0.0, True, 5, 4)),
        ("MISC_CHECK { misc_path /bin/true\nretry 2\ndelay_before_retry 0.5 }", "", "",
         (60.0, 2, 0.5, 60.0, False, 1, 1)),
        # warmup falls to the *checker's* delay_loop
        ("TCP_CHECK { delay_loop 5 }", "delay_loop 30", "", (5.0, 1, 1.0, 5.0, False, 1, 1)),
    ],
)  # fmt: skip
def test_timing_inheritance(checker: str, vs: str, rs: str, expected: tuple[Any, ...]) -> None:
    check = only(one_server(checker, vs, rs))
    h = check.hysteresis
    assert tuple(getattr(h, name) for name in TIMING) == expected


@pytest.mark.parametrize(
    ("checker", "vs", "rs", "timeout"),
    [
        ("TCP_CHECK {}", "", "", 5.0),  # keepalived's virtual_server default
        ("TCP_CHECK {}", "connect_timeout 2", "", 2.0),
        ("TCP_CHECK {}", "connect_timeout 2", "connect_timeout 3", 3.0),
        ("TCP_CHECK { connect_timeout 0.5 }", "connect_timeout 2", "connect_timeout 3", 0.5),
        ("SMTP_CHECK {}", "connect_timeout 2", "", 2.0),
    ],
)
def test_connect_timeout_inheritance(checker: str, vs: str, rs: str, timeout: float) -> None:
    check = only(one_server(checker, vs, rs))
    target, _ = probe_args(check)
    assert target.connect_timeout_s == timeout == check.timeout_s


# -- the probe target -----------------------------------------------------------------------


def test_target_defaults_to_the_real_server_and_takes_every_connection_option() -> None:
    target, _ = probe_args(only(one_server("TCP_CHECK {}")))
    assert (target.connect_ip, target.connect_port, target.bindto) == ("10.0.0.2", 80, None)
    text = one_server(
        "TCP_CHECK { connect_ip 10.0.0.9\nconnect_port 8080\nbindto 10.0.0.5\nbind_port 4000\n"
        "bind_if eth0\nfwmark 7 }"
    )
    target, _ = probe_args(only(text))
    assert (target.connect_ip, target.connect_port) == ("10.0.0.9", 8080)
    assert (target.bindto, target.bind_port, target.bind_if, target.fwmark) == (
        "10.0.0.5", 4000, "eth0", 7,
    )  # fmt: skip


def test_real_server_without_port_is_probed_on_the_virtual_servers_port() -> None:
    text = "virtual_server 10.0.0.1 443 {\nreal_server 10.0.0.2 {\nTCP_CHECK {}\n}\n}\n"
    check = only(text)
    target, _ = probe_args(check)
    assert target.connect_port == 443
    assert check.key.real_server == RealServerKey("10.0.0.1:443/TCP", ip_address("10.0.0.2"), 443)


def test_link_local_ipv6_without_bind_if_is_skipped_like_keepalived() -> None:
    text = one_server("TCP_CHECK { connect_ip fe80::1 }").replace("10.0.0.", "fd00::")
    plan = plan_of(text.replace("fd00::1 80", "fd00::1 80"))
    assert plan.checks == ()
    (note,) = plan.notes
    assert "bind_if" in note


# -- HTTP_GET / SSL_GET ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "checker", "rs", "vs", "host"),
    [
        ("", "", "", "", None),
        ("", "", "", "virtualhost vs.example", "vs.example"),
        ("", "", "virtualhost rs.example", "virtualhost vs.example", "rs.example"),
        ("", "virtualhost ck.example", "virtualhost rs.example", "", "ck.example"),
        ("virtualhost url.example", "virtualhost ck.example", "virtualhost rs.example",
         "virtualhost vs.example", "url.example"),
    ],
)  # fmt: skip
def test_http_virtualhost_url_then_checker_then_real_then_virtual_server(
    url: str, checker: str, rs: str, vs: str, host: str | None
) -> None:
    """keepalived check_http.c http_request(): url, checker, real server, virtual server."""
    text = one_server(f"HTTP_GET {{ url {{ path /\n{url} }}\n{checker} }}", vs, rs)
    _, params = probe_args(only(text))
    (u,) = params.urls
    assert (u.virtualhost or params.virtualhost) == host


def test_http_urls_status_ranges_digest_and_protocol() -> None:
    text = one_server(
        "HTTP_GET {\nurl { path /a\nstatus_code 200-299 404 }\n"
        "url { path /b\ndigest 0123456789abcdef0123456789ABCDEF\n"
        "regex ^ok\nregex_no_match }\nhttp_protocol 1.1 }"
    )
    _, params = probe_args(only(text))
    a, b = params.urls
    assert (a.path, a.status_code, a.digest) == ("/a", ((200, 299), (404, 404)), None)
    assert (b.path, b.status_code) == ("/b", ((200, 299),))  # keepalived: 200-299 by default
    assert b.digest == "0123456789abcdef0123456789ABCDEF"
    assert (b.regex, b.regex_no_match) == ("^ok", True)
    assert params.http_protocol == "1.1"


def test_http_url_without_path_is_dropped_and_a_checker_without_urls_skipped() -> None:
    _, params = probe_args(
        only(one_server("HTTP_GET { url { status_code 200 }\nurl { path /x } }"))
    )
    assert [u.path for u in params.urls] == ["/x"]
    plan = plan_of(one_server("HTTP_GET { url { status_code 200 } }"))
    assert plan.checks == ()
    assert "no url" in plan.notes[0]
    assert plan.servers[0].checkers == {}  # no checker: the real server is simply alive


def test_ssl_get_takes_the_global_ssl_block_and_sni() -> None:
    top = "SSL {\nca /etc/ca.pem\ncertificate /etc/c.pem\nkey /etc/k.pem\n}"
    text = one_server("SSL_GET { url { path / }\nenable_sni\nvirtualhost www.example }", top=top)
    check = only(text)
    _, params = probe_args(check)
    assert check.key.kind == "SSL_GET"
    assert (params.ssl, params.enable_sni, params.virtualhost) == (True, True, "www.example")
    assert (params.certificate, params.key) == ("/etc/c.pem", "/etc/k.pem")
    assert not params.verify  # keepalived loads the CA but never enforces it
    _, plain = probe_args(only(one_server("HTTP_GET { url { path / } }", top=top)))
    assert (plain.certificate, plain.ssl) == (None, False)


# -- MISC_CHECK -----------------------------------------------------------------------------


def fake_users(user: str, group: str | None) -> tuple[int, int] | None:
    table = {"nobody": (65534, 65534), "keepalived_script": (900, 900), "web": (1000, 1000)}
    if user not in table or group not in (None, "nogroup", "web"):
        return None
    uid, gid = table[user]
    return uid, {None: gid, "nogroup": 65534, "web": 1000}[group]


@pytest.mark.parametrize(
    ("checker", "top", "expected"),
    [
        # misc_timeout defaults to the *virtual server's* delay_loop (check_misc.c)
        ('MISC_CHECK { misc_path "/bin/check -x \'a b\'"\ndelay_loop 3 }', "",
         (("/bin/check", "-x", "a b"), 20.0, False, 900, 900)),
        ("MISC_CHECK { misc_path /bin/check\nmisc_timeout 4\nmisc_dynamic\nuser nobody }", "",
         (("/bin/check",), 4.0, True, 65534, 65534)),
        ("MISC_CHECK { misc_path /bin/check\nuser web nogroup }", "",
         (("/bin/check",), 20.0, False, 1000, 65534)),
        ("MISC_CHECK { misc_path /bin/check }", "global_defs { script_user web }",
         (("/bin/check",), 20.0, False, 1000, 1000)),
    ],
)  # fmt: skip
def test_misc_check_params(checker: str, top: str, expected: tuple[Any, ...]) -> None:
    check = only(one_server(checker, vs="delay_loop 20", top=top), users=fake_users)
    _, p = probe_args(check)
    assert (p.misc_path, p.misc_timeout_s, p.misc_dynamic, p.user, p.group) == expected
    assert check.timeout_s == p.misc_timeout_s


def test_misc_check_default_user_is_ours_without_keepalived_script() -> None:
    text = one_server("MISC_CHECK { misc_path /bin/true }")
    _, p = probe_args(only(text, users=lambda user, group: None))
    assert (p.user, p.group) == (None, None)


def test_system_users_reads_the_user_database() -> None:
    assert system_users("root", None) == (0, 0)
    assert system_users("root", "root") == (0, 0)
    assert system_users("no-such-user-here", None) is None
    assert system_users("root", "no-such-group-here") is None


@pytest.mark.parametrize(
    ("checker", "why"),
    [
        ("MISC_CHECK { misc_timeout 3 }", "no misc_path"),
        ("MISC_CHECK { misc_path /bin/true\nuser ghost }", "unknown user"),
    ],
)
def test_misc_check_skipped(checker: str, why: str) -> None:
    plan = plan_of(one_server(checker), users=fake_users)
    assert plan.checks == ()
    assert why in plan.notes[0]


def test_bfd_check_is_ignored_and_the_real_server_follows_its_other_checkers() -> None:
    """No BFD process here: the checker is skipped with a note; config -t warns too."""
    bfd = "bfd_instance b1 {\n neighbor_ip 10.0.0.2\n}\n"
    plan = plan_of(one_server("BFD_CHECK {\n name b1\n alpha\n}", top=bfd))
    assert plan.checks == ()
    (server,) = plan.servers
    assert server.checkers == {}  # always up, at its weight
    assert "BFD_CHECK needs keepalived's BFD process" in plan.notes[0]
    both = one_server("BFD_CHECK {\n name b1\n}\nTCP_CHECK {\n}", top=bfd)
    (check,) = plan_of(both).checks
    assert plan_of(both).servers[0].checkers == {check.key: True}
    warnings = [d.message for d in load("t.conf", text=both).warnings]
    assert any("follows its other checker(s) only" in w for w in warnings)


# -- the other probes -----------------------------------------------------------------------


def test_dns_udp_smtp_ping_params() -> None:
    _, dns = probe_args(only(one_server("DNS_CHECK { type a\nname www.example }")))
    assert (dns.type, dns.name) == ("A", "www.example")
    _, dns = probe_args(only(one_server("DNS_CHECK {}")))
    assert (dns.type, dns.name) == ("SOA", ".")  # keepalived: SOA of the root
    _, udp = probe_args(only(one_server("UDP_CHECK { payload 0a0b\nrequire_reply 0aXb }")))
    assert (udp.payload, udp.require_reply) == (b"\x0a\x0b", True)
    assert (udp.reply_data, udp.reply_mask) == (b"\x0a\x0b", b"\x00\xf0")
    _, udp = probe_args(only(one_server("UDP_CHECK {}")))
    assert (udp.payload, udp.require_reply) == (None, False)
    _, smtp = probe_args(only(one_server("SMTP_CHECK {}")))
    assert smtp.helo_name == "smtpchecker.keepalived.org"
    _, smtp = probe_args(only(one_server("SMTP_CHECK { helo_name me.example }")))
    assert smtp.helo_name == "me.example"
    target, _ = probe_args(only(one_server("PING_CHECK {}")))
    assert target.connect_ip == "10.0.0.2"


def test_smtp_host_blocks_are_checkers_of_their_own() -> None:
    hosts = "host { connect_ip 10.0.0.7\nconnect_port 25 }\nhost { connect_port 2525 }"
    plan = plan_of(one_server(f"SMTP_CHECK {{ {hosts} }}"))
    # no connection option of its own: the checker takes the first host's
    assert [(probe_args(c)[0].connect_ip, probe_args(c)[0].connect_port, c.key.host)
            for c in plan.checks] == [("10.0.0.7", 25, 0), ("10.0.0.2", 2525, 1)]  # fmt: skip
    plan = plan_of(one_server(f"SMTP_CHECK {{ connect_port 26\n{hosts} }}"))
    assert [probe_args(c)[0].connect_port for c in plan.checks] == [26, 25, 2525]
    assert len(plan.servers[0].checkers) == 3


def test_file_check_weight_from_the_checker_else_the_track_file() -> None:
    top = "track_file up { file /run/up\nweight -3 reverse }"
    check = only(one_server("FILE_CHECK { track_file up }", top=top))
    _, p = probe_args(check)
    assert (p.file_path, p.weight, p.reverse) == ("/run/up", -3, True)
    assert (check.hysteresis.retry, check.hysteresis.alpha) == (0, False)
    _, p = probe_args(only(one_server("FILE_CHECK { track_file up\nweight 0 }", top=top)))
    assert (p.weight, p.reverse) == (0, False)
    plan = plan_of(one_server("FILE_CHECK { track_file nope }", top=top))
    assert plan.checks == ()
    assert "not found" in plan.notes[0]


# -- keys, weights, initial states, the health book ----------------------------------------


def test_keys_number_each_kind_and_alpha_starts_down() -> None:
    text = one_server(
        "TCP_CHECK { connect_port 81 }\nHTTP_GET { url { path / } }\nTCP_CHECK { alpha }",
        rs="weight 5",
    )
    plan = plan_of(text)
    rs = RealServerKey(VS, ip_address("10.0.0.2"), 80)
    assert sorted(c.key for c in plan.checks) == sorted(
        [CheckerKey(rs, "HTTP_GET", 0), CheckerKey(rs, "TCP_CHECK", 0),
         CheckerKey(rs, "TCP_CHECK", 1)]
    )  # fmt: skip
    (server,) = plan.servers
    assert server.weight == 5
    assert dict(server.checkers) == {
        CheckerKey(rs, "HTTP_GET", 0): True,
        CheckerKey(rs, "TCP_CHECK", 0): True,
        CheckerKey(rs, "TCP_CHECK", 1): False,
    }
    book = plan.health_book()
    assert not book.server(rs).alive
    down = CheckerDown(at=1.0, initial=True, reason="x", failures=1)
    changed = book.apply(CheckerKey(rs, "TCP_CHECK", 0), [down])
    assert changed is None  # already down (alpha checker), nothing changes


def test_weight_inherited_from_the_virtual_server() -> None:
    plan = plan_of(one_server("TCP_CHECK {}", vs="weight 4"))
    assert plan.servers[0].weight == 4
