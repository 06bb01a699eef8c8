"""The syntax layer: lexer, blocks and braces, comments, quotes, templates."""

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from syntax_helpers import INSTANCE, load_text, messages, only_instance

from pykeepalived.config.diagnostics import Diagnostics
from pykeepalived.config.lexer import tokenize
from pykeepalived.config.model import KeepalivedConfig
from pykeepalived.config.tree import Statement, build_tree


def words(line: str) -> list[str]:
    tokens, issues = tokenize(line, file="t.conf", line=1)
    assert not issues
    return [t.text for t in tokens]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("priority 100", ["priority", "100"]),
        ("  \tpriority\t100  ", ["priority", "100"]),
        ("virtual_ipaddress {", ["virtual_ipaddress", "{"]),
        ("virtual_ipaddress{10.0.0.1}", ["virtual_ipaddress", "{", "10.0.0.1", "}"]),
        ("} }", ["}", "}"]),
        ("priority 100 ! the master", ["priority", "100"]),
        ("priority 100 # the master", ["priority", "100"]),
        ("priority 100# glued comment", ["priority", "100"]),
        ("! a whole comment", []),
        ("# a whole comment", []),
        ('notify "/bin/a b ! c # d"', ["notify", "/bin/a b ! c # d"]),
        ('notify "say \\"hi\\""', ["notify", 'say "hi"']),
        ('auth_pass ""', ["auth_pass", ""]),
        ("auth_pass ab\\#1\\!2 # comment", ["auth_pass", "ab#1!2"]),
        ("path C:\\dir\\x", ["path", "C:\\dir\\x"]),
    ],
)
def test_lexer_words(line: str, expected: list[str]) -> None:
    assert words(line) == expected


def test_lexer_columns_are_one_based_and_cover_the_token() -> None:
    tokens, _ = tokenize('    notify_master "/bin/x y" root', file="f", line=3)

    spans = [(t.text, t.location.column, t.location.length, t.quoted) for t in tokens]
    assert spans == [
        ("notify_master", 5, 13, False),
        ("/bin/x y", 19, 10, True),
        ("root", 30, 4, False),
    ]
    assert tokens[1].location.line == 3


def test_lexer_unterminated_quote_is_one_issue_up_to_the_end_of_line() -> None:
    tokens, issues = tokenize('notify "/bin/x y', file="f", line=1)

    assert [t.text for t in tokens] == ["notify", "/bin/x y"]
    assert [(i.code, i.column, i.length) for i in issues] == [("quote", 8, 9)]


@pytest.mark.parametrize(
    ("line", "template", "column"),
    [
        ("interface {{ iface }}", "{{ iface }}", 11),
        ("interface {{iface}}", "{{iface}}", 11),
        ("priority ${PRIO}", "${PRIO}", 10),
        ("priority <priority>", "<priority>", 10),
        ('notify "/bin/x {{ arg }}"', "{{ arg }}", 8),
        ("{% if master %}", "{% if master %}", 1),
        ("priority <%= @priority %>", "<%= @priority %>", 10),
    ],
)
def test_lexer_flags_unrendered_templates_once(line: str, template: str, column: int) -> None:
    tokens, issues = tokenize(line, file="f", line=1)

    (issue,) = issues
    assert (issue.code, issue.column) == ("template", column)
    assert f"'{template}'" in issue.message
    assert any(t.template for t in tokens)


@pytest.mark.parametrize("line", ["auth_pass pa$$word", "path /a<b", "x $", "a <", "<>"])
def test_lexer_does_not_mistake_ordinary_text_for_templates(line: str) -> None:
    assert tokenize(line, file="f", line=1)[1] == []


def tree(text: str) -> tuple[tuple[Statement, ...], Diagnostics]:
    diags = Diagnostics()
    lines = [tokenize(line, file="f", line=n + 1)[0] for n, line in enumerate(text.splitlines())]
    return build_tree([line for line in lines if line], diags), diags


def shape(statements: tuple[Statement, ...] | None) -> object:
    if statements is None:
        return None
    return [(st.name, [a.text for a in st.args], shape(st.block)) for st in statements]


def test_brace_on_the_next_line_opens_the_previous_statement() -> None:
    statements, diags = tree("vrrp_instance VI_1\n{\n    priority 100\n}\n")

    assert shape(statements) == [("vrrp_instance", ["VI_1"], [("priority", ["100"], None)])]
    assert not diags.items


def test_several_blocks_and_closing_braces_on_one_line() -> None:
    statements, diags = tree("rs 10.0.0.1 80 { TCP_CHECK { connect_timeout 3 } } x 1\n")

    assert shape(statements) == [
        ("rs", ["10.0.0.1", "80"], [("TCP_CHECK", [], [("connect_timeout", ["3"], None)])]),
        ("x", ["1"], None),
    ]
    assert not diags.items


def test_close_close_on_one_line() -> None:
    statements, _ = tree("a {\n b {\n  c 1\n} }\nd 2\n")

    assert shape(statements) == [("a", [], [("b", [], [("c", ["1"], None)])]), ("d", ["2"], None)]


def test_loaded_one_line_blocks_and_next_line_brace() -> None:
    text = """\
vrrp_instance VI_1
{
    state MASTER
    interface eth0
    virtual_router_id 51
    priority 150
    authentication { auth_type PASS
        auth_pass 1111 }
    virtual_ipaddress { 192.168.1.10/24 }
} virtual_server 192.168.1.10 80 { lvs_method DR
    real_server 10.0.0.1 80 { TCP_CHECK { connect_timeout 3 } } }
"""
    result = load_text(text)

    inst = only_instance(result)
    assert (inst.state, inst.interface, inst.virtual_router_id, inst.priority) == (
        "MASTER",
        "eth0",
        51,
        150,
    )
    assert inst.authentication is not None
    assert (inst.authentication.auth_type, inst.authentication.auth_pass) == ("PASS", "1111")
    assert [str(v.address) for v in inst.virtual_ipaddress] == ["192.168.1.10/24"]
    assert result.config is not None
    (vs,) = result.config.virtual_server
    (rs,) = vs.real_server
    assert (vs.lvs_method.kind, str(rs.ip)) == ("DR", "10.0.0.1")
    assert rs.TCP_CHECK[0].connect_timeout == 3
    assert not [d for d in result.diagnostics if d.code == "extra"]


GLUED = """\
vrrp_instance VI_1 {
    state BACKUP interface eth9
    interface eth0
    virtual_router_id 51 priority 250
    priority 150 advert_int 3
    nopreempt priority 50
    virtual_ipaddress { 192.168.1.10/24 }
}
"""


def test_a_second_keyword_on_a_line_is_ignored_with_a_warning_as_keepalived_does() -> None:
    """keepalived 2.2.7 reads one keyword per line: its ``--dump-conf`` of GLUED shows
    interface eth0, priority 150, advert interval 1 s and preempt disabled."""
    result = load_text(GLUED)

    inst = only_instance(result)
    assert (inst.state, inst.interface, inst.virtual_router_id) == ("BACKUP", "eth0", 51)
    assert (inst.priority, inst.advert_int, inst.nopreempt) == (150, 1.0, True)
    found = [(d.severity.value, d.location.line, d.location.column, d.code)
             for d in result.diagnostics]  # fmt: skip
    assert found == [
        ("warning", 2, 18, "extra"),
        ("warning", 4, 26, "extra"),
        ("warning", 5, 18, "extra"),
        ("warning", 6, 15, "extra"),
    ]
    first = result.diagnostics[0].message
    assert first.startswith("'interface' is ignored: keepalived reads one keyword per line")
    assert "put 'interface' on a line of its own" in first


def test_glued_auth_pass_is_ignored_so_the_password_is_missing() -> None:
    """``auth_type PASS auth_pass 1111``: keepalived sets no password and reports
    'Authentication specified but no password given' (``-t`` fails); so do we."""
    text = GLUED.replace("    nopreempt priority 50\n", "").replace(
        "    virtual_ipaddress",
        "    authentication {\n        auth_type PASS auth_pass 1111\n    }\n    virtual_ipaddress",
    )
    result = load_text(text)

    assert not result.ok
    assert ("warning", 7, "extra") in [
        (d.severity.value, d.location.line, d.code) for d in result.diagnostics
    ]
    assert "(VI_1) auth_type PASS needs auth_pass" in [d.message for d in result.errors]


def test_extra_words_that_are_no_keyword_keep_the_plain_warning() -> None:
    result = load_text(GLUED.replace("nopreempt priority 50", "priority 120 130"))

    assert "extra arguments to 'priority' ignored" in [d.message for d in result.diagnostics]


def test_comments_everywhere() -> None:
    text = "! header\n# header\n" + INSTANCE.replace(
        "priority 100", "priority 100 ! trailing\n    # indented comment"
    ).replace("interface eth0", "interface eth0# glued")
    inst = only_instance(load_text(text))

    assert (inst.priority, inst.interface) == (100, "eth0")


def test_quoted_strings_keep_their_spaces() -> None:
    text = INSTANCE.replace(
        "priority 100", 'priority 100\n    notify_master "/usr/bin/notify  master ! now" root'
    )
    inst = only_instance(load_text(text))

    assert inst.notify_master is not None
    assert inst.notify_master.command == "/usr/bin/notify  master ! now"
    assert inst.notify_master.username == "root"


def test_unrendered_templates_each_reported_once_without_cascade() -> None:
    text = """\
vrrp_instance {{ name }} {
    state {{ state }}
    interface <interface>
    virtual_router_id ${VRID}
    priority {{ prio }}
    unicast_src_ip {{ src }}
    unicast_peer {
        {{ peer }}
    }
    track_script {
        {{ script }}
    }
    virtual_ipaddress {
        {{ vip }}/24
    }
}
"""
    result = load_text(text)

    assert [(d.code, d.location.line) for d in result.diagnostics] == [
        ("template", n) for n in (1, 2, 3, 4, 5, 6, 8, 11, 14)
    ]
    assert result.config is not None
    assert len(result.config.vrrp_instance) == 1


def test_real_errors_inside_a_templated_block_are_still_reported() -> None:
    text = INSTANCE.replace("VI_1", "{{ name }}").replace("priority 100", "priority 999")

    assert [d.code for d in load_text(text).diagnostics] == ["template", "range"]


def test_template_as_a_keyword_is_not_an_unknown_keyword() -> None:
    text = INSTANCE.replace("priority 100", "{{ extra_settings }}")

    assert [d.code for d in load_text(text).diagnostics] == ["template"]


def test_loaded_model_is_the_grammar() -> None:
    result = load_text(INSTANCE)

    assert isinstance(result.config, KeepalivedConfig)
    assert only_instance(result).name == "VI_1"


def test_track_script_defined_later_in_the_file_is_not_an_error() -> None:
    text = (
        "vrrp_sync_group G1 {\n    group {\n        VI_1\n    }\n}\n"
        + INSTANCE.replace("priority 100", "priority 100\n    track_script {\n        chk\n    }")
        + "vrrp_script chk {\n    script /bin/true\n}\n"
    )

    result = load_text(text)

    assert result.ok, messages(result)
    assert [d.code for d in result.diagnostics] == ["sync"]  # one member only: a warning


def test_early_close_brace_reopens_the_block() -> None:
    text = INSTANCE.replace("    }\n}\n", "    } }\n    advert_int 3\n}\n")

    result = load_text(text)

    assert [(d.code, d.location.line, d.location.column) for d in result.diagnostics] == [
        ("brace", 8, 7)
    ]
    assert result.config is not None
    assert result.config.vrrp_instance[0].advert_int == 3


def test_misspelt_top_level_block_after_a_block_is_not_taken_for_an_early_close() -> None:
    text = INSTANCE + "vrrp_instanse VI_2 {\n    interface eth0\n}\n"

    (d,) = load_text(text).diagnostics
    assert d.message.startswith("unknown keyword 'vrrp_instanse' in the top level")


def test_missing_close_brace_before_the_next_block_keeps_both_blocks() -> None:
    text = INSTANCE.replace("    }\n}\n", "    }\n") + INSTANCE.replace("VI_1", "VI_2").replace(
        "virtual_router_id 51", "virtual_router_id 52"
    )

    result = load_text(text)

    assert [(d.code, d.location.line) for d in result.diagnostics] == [("brace", 1)]
    assert result.config is not None
    assert [i.name for i in result.config.vrrp_instance] == ["VI_1", "VI_2"]


def test_ipv6_instance_without_version_runs_v3_despite_global_v2() -> None:
    """As keepalived 2.2.7 decides (vrrp_complete_instance); only an explicit
    'version 2' in an IPv6 instance is an error (broken/ipv6_with_vrrp2.conf)."""
    text = "global_defs {\n    vrrp_version 2\n}\n" + INSTANCE.replace(
        "192.168.1.10/24", "2001:db8::10/64"
    ).replace("priority 100", "priority 100\n    advert_int 0.5")

    assert load_text(text).diagnostics == ()


@settings(settings.get_profile("ci"), max_examples=300)
@given(text=st.text(alphabet="ab1._-:/ \t{}é\u3000", max_size=40))
def test_fast_and_full_lexer_paths_agree(text: str) -> None:
    """Lines of words and braces take a fast path; a trailing comment forces the full one."""
    assume("{{" not in text)  # a template, on the full path either way

    def spans(line: str) -> list[tuple[str, int, int]]:
        tokens, issues = tokenize(line, file="f", line=1)
        assert not issues
        return [(t.text, t.location.column, t.location.length) for t in tokens]

    assert spans(text) == spans(text + " # comment")


@pytest.mark.parametrize(
    "line", ['    priority "100', '    "priority 100', '    notify_master "/bin/x', '    "']
)
def test_an_unterminated_quote_is_the_only_error_on_its_line(line: str) -> None:
    result = load_text(INSTANCE.replace("    priority 100", line))

    assert [(d.code, d.location.line) for d in result.diagnostics] == [("quote", 5)]
