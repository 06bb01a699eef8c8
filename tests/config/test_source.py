"""Preprocessing: BOM and CRLF, @conditionals, $definitions, includes."""

import time
from pathlib import Path

import pytest
from syntax_helpers import INSTANCE, load_text, messages, only_instance, write

from pykeepalived.config.loader import load


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


def test_track_script_defined_in_a_later_include_is_not_an_error(tmp_path: Path) -> None:
    main = write(
        tmp_path / "keepalived.conf",
        INSTANCE.replace("priority 100", "priority 100\n    track_script {\n        chk\n    }")
        + "include scripts/*.conf\n",
    )
    write(tmp_path / "scripts" / "chk.conf", "vrrp_script chk {\n    script /bin/true\n}\n")

    assert load(str(main), environment=None).diagnostics == ()


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


def test_multi_line_definition_ending_a_line_continues_it() -> None:
    """Its first line joins the line it ends, the next ones follow as lines of their own; a
    keyword joined that way is ignored, one keyword per line (keepalived 2.2.7's dump of the
    same text: VRID 52, priority 150)."""
    text = "$BODY=virtual_router_id 51 \\\n    priority 150\n" + INSTANCE.replace(
        "    virtual_router_id 51\n    priority 100\n",
        "    interface eth0 $BODY\n    virtual_router_id 52\n",
    ).replace("    interface eth0\n    interface", "    interface")

    result = load_text(text)
    inst = only_instance(result)
    assert (inst.interface, inst.virtual_router_id, inst.priority) == ("eth0", 52, 150)
    assert [(d.code, d.location.line) for d in result.diagnostics] == [("extra", 5)]


def test_multi_line_definition_inside_a_line_is_one_error() -> None:
    text = "$VIPS=192.168.1.10/24 \\\n    192.168.1.11/24\n" + INSTANCE.replace(
        "    virtual_ipaddress {\n        192.168.1.10/24\n    }", "    virtual_ipaddress { $VIPS }"
    )

    result = load_text(text)

    assert [(d.code, d.location.line, d.location.column) for d in result.diagnostics] == [
        ("definition", 8, 25)
    ]
    assert "can only be used at the end of a line" in result.diagnostics[0].message


def test_undefined_unbraced_definition_says_so() -> None:
    text = INSTANCE.replace("priority 100", "priority $PRIO").replace(
        "        192.168.1.10/24", "        $VIP"
    )

    messages_ = [d.message for d in load_text(text).diagnostics]
    assert messages_ == [
        "expected a whole number, got '$PRIO' (is $PRIO defined before this line?)",
        "'$VIP' is not an IP address (is $VIP defined before this line?)",
    ]


@pytest.mark.parametrize(
    ("line", "codes"),
    [
        ('include ""\n', ["include"]),
        ("include /dev/null\n", []),
        ("include /proc/self/fd/0\n", ["env"]),
        ("include a\x00b\n", ["env"]),
    ],
)
def test_include_of_odd_names(line: str, codes: list[str]) -> None:
    result = load("/tmp/k.conf", text=line, environment=None)

    assert [d.code for d in result.diagnostics] == codes


def test_comments_go_first_as_in_keepalived() -> None:
    """keepalived strips comments before it reads definitions and @conditionals."""
    text = (
        "$PRIO=150 # the master\n"
        "$VIPS=192.168.1.10/24 \\\n"
        "    192.168.1.11/24 ! second\n"
        + INSTANCE.replace("priority 100", "@lb1 priority $PRIO ! only on lb1").replace(
            "        192.168.1.10/24", "        $VIPS # both"
        )
    )

    inst = only_instance(load_text(text))
    assert inst.priority == 150
    assert [str(v.address) for v in inst.virtual_ipaddress] == [
        "192.168.1.10/24",
        "192.168.1.11/24",
    ]
