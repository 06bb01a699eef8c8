"""The syntax layer: lexer, preprocessing (include, $definitions, @conditionals) and blocks."""

import gc
import time
from pathlib import Path

import pytest

from pykeepalived.config.diagnostics import Diagnostic, Diagnostics, Location, Severity
from pykeepalived.config.lexer import tokenize
from pykeepalived.config.loader import LoadResult, load
from pykeepalived.config.model import KeepalivedConfig
from pykeepalived.config.model_vrrp import VrrpInstance
from pykeepalived.config.tree import Statement, build_tree

INSTANCE = """\
vrrp_instance VI_1 {
    state MASTER
    interface eth0
    virtual_router_id 51
    priority 100
    virtual_ipaddress {
        192.168.1.10/24
    }
}
"""


def words(line: str) -> list[str]:
    tokens, issues = tokenize(line, file="t.conf", line=1)
    assert not issues
    return [t.text for t in tokens]


def load_text(text: str, *, path: str = "t.conf", config_id: str = "lb1") -> LoadResult:
    return load(path, text=text, config_id=config_id, environment=None)


def only_instance(result: LoadResult) -> VrrpInstance:
    assert result.ok, [d.render() for d in result.diagnostics]
    assert result.config is not None
    (inst,) = result.config.vrrp_instance
    return inst


def messages(result: LoadResult) -> list[tuple[str, int, str]]:
    return [(d.severity.value, d.location.line, d.message) for d in result.diagnostics]


# --- lexer ---------------------------------------------------------------------------------


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


# --- blocks --------------------------------------------------------------------------------


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
    state MASTER interface eth0
    virtual_router_id 51 priority 150
    authentication { auth_type PASS auth_pass 1111 }
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


# --- preprocessing: BOM, CRLF, conditionals, definitions -------------------------------------


def test_bom_and_crlf(tmp_path: Path) -> None:
    path = tmp_path / "k.conf"
    path.write_bytes(b"\xef\xbb\xbf" + INSTANCE.replace("\n", "\r\n").encode())

    result = load(str(path), environment=None)

    inst = only_instance(result)
    assert (inst.interface, inst.priority) == ("eth0", 100)
    bad = load(str(path), text=None, environment=None)
    assert bad.ok


def test_crlf_keeps_line_numbers_and_carets() -> None:
    text = INSTANCE.replace("priority 100", "priority 999").replace("\n", "\r\n")

    (d,) = load_text(text).diagnostics
    assert d.location.line == 5
    assert d.render().splitlines()[1:] == ["        priority 999", "                 ^~~"]


def test_form_feed_and_nel_do_not_shift_line_numbers() -> None:
    text = "! page\x0c break \x85 nel\n" + INSTANCE.replace("priority 100", "priority 999")

    (d,) = load_text(text).diagnostics
    assert d.location.line == 6


@pytest.mark.parametrize(("config_id", "priority"), [("lb1", 150), ("lb2", 50)])
def test_conditional_lines(config_id: str, priority: int) -> None:
    text = INSTANCE.replace("    priority 100\n", "@lb1 priority 150\n@^lb1\tpriority 50\n")

    inst = only_instance(load_text(text, config_id=config_id))
    assert inst.priority == priority


def test_conditional_line_keeps_the_file_columns_for_the_caret() -> None:
    text = INSTANCE.replace("    priority 100\n", "    @lb1 priority 999\n")

    (d,) = load_text(text).diagnostics
    assert d.render().splitlines()[1:] == ["        @lb1 priority 999", "                      ^~~"]


def test_definitions_simple_braced_and_multi_line() -> None:
    text = (
        "$IFACE=eth0\n"
        "$PRIO = 150\n"
        "$VIPS=192.168.1.10/24 \\\n"
        "      192.168.1.11/24 \\\n"
        "      192.168.1.12/24\n"
        + INSTANCE.replace("interface eth0", "interface $IFACE")
        .replace("priority 100", "priority ${PRIO}")
        .replace("        192.168.1.10/24", "        $VIPS")
    )
    inst = only_instance(load_text(text))

    assert (inst.interface, inst.priority) == ("eth0", 150)
    assert [str(v.address) for v in inst.virtual_ipaddress] == [
        "192.168.1.10/24",
        "192.168.1.11/24",
        "192.168.1.12/24",
    ]


def test_definition_redefined_later_applies_from_there_on() -> None:
    text = "$P=10\n" + INSTANCE.replace("priority 100", "priority $P") + "$P=20\n"

    assert only_instance(load_text(text)).priority == 10


def test_undefined_braced_definition_is_one_template_error() -> None:
    result = load_text(INSTANCE.replace("priority 100", "priority ${PRIO}"))

    assert messages(result) == [
        ("error", 5, "unrendered template '${PRIO}' (an environment variable was not filled in)")
    ]


# --- includes ------------------------------------------------------------------------------


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_include_glob_relative_to_the_including_file_nested(tmp_path: Path) -> None:
    main = write(tmp_path / "etc" / "keepalived.conf", "include conf.d/*.conf\n")
    write(tmp_path / "etc" / "conf.d" / "10-instance.conf", INSTANCE)
    write(
        tmp_path / "etc" / "conf.d" / "20-lvs.conf",
        "virtual_server 192.168.1.10 80 {\n    include ../real/*.inc\n}\n",
    )
    write(
        tmp_path / "etc" / "real" / "a.inc",
        "real_server 10.0.0.1 80 {\n    TCP_CHECK {\n        connect_timeout 3\n    }\n}\n",
    )
    write(tmp_path / "etc" / "conf.d" / "skipped.txt", "garbage {\n")

    result = load(str(main), environment=None)

    assert result.ok, messages(result)
    assert result.config is not None
    (vs,) = result.config.virtual_server
    assert [str(rs.ip) for rs in vs.real_server] == ["10.0.0.1"]


def test_error_in_an_included_file_names_that_file(tmp_path: Path) -> None:
    main = write(tmp_path / "keepalived.conf", "include sub/*.conf\n")
    inc = write(tmp_path / "sub" / "vi.conf", INSTANCE.replace("priority 100", "priority 0"))

    (d,) = load(str(main), environment=None).diagnostics
    assert (d.location.file, d.location.line) == (str(inc), 5)
    assert d.render().startswith(f"({inc}: Line 5) error: 0 is out of range")


def test_include_loop_is_reported_once(tmp_path: Path) -> None:
    main = write(tmp_path / "keepalived.conf", "include a.conf\n")
    write(tmp_path / "a.conf", INSTANCE + "include b.conf\n")
    write(tmp_path / "b.conf", "include a.conf\n")

    result = load(str(main), environment=None)

    assert [(d.code, Path(d.location.file).name, d.location.line) for d in result.errors] == [
        ("include", "b.conf", 1)
    ]
    assert "a.conf -> b.conf -> a.conf" in result.errors[0].message


def test_self_include_is_a_loop(tmp_path: Path) -> None:
    main = write(tmp_path / "keepalived.conf", INSTANCE + "include keepalived.conf\n")

    assert [d.code for d in load(str(main), environment=None).diagnostics] == ["include"]


def test_include_matching_nothing_is_an_env_warning(tmp_path: Path) -> None:
    main = write(tmp_path / "keepalived.conf", "include missing/*.conf\n" + INSTANCE)

    result = load(str(main), environment=None)

    assert result.ok
    assert [(d.severity.value, d.code, d.location.line) for d in result.diagnostics] == [
        ("warning", "env", 1)
    ]
    strict = load(str(main), environment=None, check_environment=True)
    assert not strict.ok


def test_include_needs_a_name() -> None:
    result = load_text("include\n" + INSTANCE)

    assert [(d.code, d.location.line) for d in result.errors] == [("include", 1)]


# --- templates: one error each, no cascade ---------------------------------------------------


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


# --- hostile input: bounded work, bounded output -----------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "global_defs " + "{ " * 5000 + "}" * 5000,
        "vrrp_instance X {\n" + "a {\n" * 3000,
        "{\n" * 20000,
        "{{ x }} " * 20000,
        "x" * 200_000 + "\n",
        "vrrp_instance V {\n" + "priorty 1\n" * 5000 + "}\n",
        '"' * 100_000,
        "\x00" * 10_000,
    ],
    ids=[
        "deep",
        "deep-unclosed",
        "open-only",
        "templates",
        "long-word",
        "unknown",
        "quotes",
        "nul",
    ],
)
def test_hostile_input_loads_quickly(text: str) -> None:
    start = time.process_time()

    result = load_text(text)

    assert time.process_time() - start < 1.0
    assert not result.ok
    assert len(result.diagnostics) <= text.count("\n") + 200
    assert all(len(d.render()) < 600 for d in result.diagnostics)


def test_nesting_deeper_than_the_limit_is_one_error() -> None:
    result = load_text("vrrp_instance X {\n" + "track_script {\n" * 100 + "}\n" * 101)

    assert [d.message for d in result.errors if "deeper" in d.message] == [
        "blocks nested deeper than 64: their content is ignored"
    ]


def test_long_line_is_shown_as_a_window_around_the_caret() -> None:
    line = "    notify " + "x" * 1000 + " bad\tvalue"
    column = line.index("bad") + 1
    d = Diagnostic(
        severity=Severity.ERROR,
        location=Location(file="f", line=1, column=column, length=3, source_line=line),
        message="m",
    )

    _, shown, caret = d.render().splitlines()
    assert shown.startswith("    ...")
    assert len(shown) < 200
    assert shown[caret.index("^") :].startswith("bad value")
    assert caret.endswith("^~~")


@pytest.mark.parametrize("enabled", [True, False])
def test_load_leaves_the_garbage_collector_as_it_found_it(enabled: bool) -> None:
    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        load_text("junk {\n")
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()


# --- order of blocks never matters -------------------------------------------------------------


def test_track_script_defined_later_in_the_file_is_not_an_error() -> None:
    text = (
        "vrrp_sync_group G1 {\n    group {\n        VI_1\n    }\n}\n"
        + INSTANCE.replace("priority 100", "priority 100\n    track_script {\n        chk\n    }")
        + "vrrp_script chk {\n    script /bin/true\n}\n"
    )

    result = load_text(text)

    assert result.ok, messages(result)
    assert [d.code for d in result.diagnostics] == ["sync"]  # one member only: a warning


def test_track_script_defined_in_a_later_include_is_not_an_error(tmp_path: Path) -> None:
    main = write(
        tmp_path / "keepalived.conf",
        INSTANCE.replace("priority 100", "priority 100\n    track_script {\n        chk\n    }")
        + "include scripts/*.conf\n",
    )
    write(tmp_path / "scripts" / "chk.conf", "vrrp_script chk {\n    script /bin/true\n}\n")

    assert load(str(main), environment=None).diagnostics == ()


# --- unbalanced braces: one error, then the file is read as meant --------------------------------


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


def test_definitions_expand_inside_definitions_as_keepalived_does() -> None:
    text = "$NET=192.168.1\n$VIP=${NET}.10/24\n" + INSTANCE.replace("192.168.1.10/24", "$VIP")

    inst = only_instance(load_text(text))
    assert [str(v.address) for v in inst.virtual_ipaddress] == ["192.168.1.10/24"]


def test_recursive_definition_is_one_error() -> None:
    text = "$A=x $A\n" + INSTANCE.replace("priority 100", "priority 100\n    $A")

    result = load_text(text)
    assert [(d.code, d.location.line) for d in result.diagnostics] == [("definition", 7)]


def test_unbraced_use_needs_a_separator_after_the_name() -> None:
    text = "$P=1\n" + INSTANCE.replace(
        "priority 100", 'priority 100\n    notify "/bin/x $Px $P/ $P,$P)$P y"'
    )

    inst = only_instance(load_text(text))
    assert inst.notify is not None
    assert inst.notify.command == "/bin/x $Px $P/ 1,1)1 y"


def test_builtin_definitions(tmp_path: Path) -> None:
    path = write(
        tmp_path / "k.conf",
        INSTANCE.replace(
            "priority 100",
            "priority ${_RANDOM 10 20}\n"
            '    notify "${_PWD}/notify $_INSTANCE ${_HASH}1 ${_BANG}"\n'
            "    notify_master /bin/$_HASH",
        ),
    )

    inst = only_instance(load(str(path), config_id="lb7", environment=None))
    assert 10 <= inst.priority <= 20
    assert inst.notify is not None
    assert inst.notify.command == f"{tmp_path}/notify lb7 #1 !"
    assert inst.notify_master is not None
    assert inst.notify_master.command == "/bin/#"


def test_ipv6_instance_without_version_runs_v3_despite_global_v2() -> None:
    """As keepalived 2.2.7 decides (vrrp_complete_instance); only an explicit
    'version 2' in an IPv6 instance is an error (broken/ipv6_with_vrrp2.conf)."""
    text = "global_defs {\n    vrrp_version 2\n}\n" + INSTANCE.replace(
        "192.168.1.10/24", "2001:db8::10/64"
    ).replace("priority 100", "priority 100\n    advert_int 0.5")

    assert load_text(text).diagnostics == ()


def test_files_including_each_other_by_glob_are_bounded(tmp_path: Path) -> None:
    for n in range(8):  # each includes all: not one loop but 8! paths without a bound
        write(tmp_path / f"f{n}.conf", "include *.conf\n")
    start = time.process_time()

    result = load(str(tmp_path / "f0.conf"), environment=None)

    assert time.process_time() - start < 1.0
    assert len(result.diagnostics) <= 8 * 8 + 1
    assert {d.code for d in result.diagnostics} == {"include"}


def test_findings_are_grouped_by_file_in_the_order_files_were_read(tmp_path: Path) -> None:
    main = write(
        tmp_path / "z-main.conf",
        "junk_before 1\ninclude a-sub/*.conf\njunk_after 1\n",
    )
    write(tmp_path / "a-sub" / "x.conf", "junk_inside 1\n")

    result = load(str(main), environment=None)

    assert [(Path(d.location.file).name, d.location.line) for d in result.diagnostics] == [
        ("z-main.conf", 1),
        ("z-main.conf", 3),
        ("x.conf", 1),
    ]
