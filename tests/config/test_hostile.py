"""Hostile input: bounded work and bounded output, and the GC left as found."""

import gc
import time
from dataclasses import dataclass
from typing import ClassVar

import pytest
from syntax_helpers import load_text

from pykeepalived.config.diagnostics import Diagnostic, Diagnostics, Location, Severity
from pykeepalived.config.grammar import BadValue, Context, kw, parse_block
from pykeepalived.config.lexer import tokenize
from pykeepalived.config.tree import build_tree
from pykeepalived.config.values import to_float, to_int


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


def test_a_converter_bug_is_an_internal_error_not_an_exception() -> None:
    @dataclass(frozen=True, slots=True, kw_only=True)
    class Buggy:
        BLOCK_NAME: ClassVar[str] = "buggy"
        value: int = kw(0, lambda st, ctx: int(st.args[5].text))

    diags = Diagnostics()
    tokens = tokenize("value 1", file="f", line=3)[0]

    built = parse_block(Buggy, build_tree([tokens], diags), Context(diags=diags))

    assert built == Buggy()
    (d,) = diags.items
    assert (d.code, d.location.line) == ("internal", 3)
    assert "IndexError" in d.message


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("150", True),
        ("+150", True),
        ("0150", True),
        ("1_50", False),
        ("\u0661\u0665\u0660", False),  # Arabic-Indic digits 150
        ("150.0", False),
        ("1e2", False),
        ("9" * 40, False),
        ("", False),
    ],
)
def test_whole_numbers_are_ascii_digits(value: str, ok: bool) -> None:
    tokens = tokenize(f'priority "{value}"', file="f", line=1)[0]
    st = build_tree([tokens], Diagnostics())[0]

    if ok:
        assert to_int(st.args[0]) == 150
    else:
        with pytest.raises(BadValue, match="expected a whole number"):
            to_int(st.args[0])


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        *[("0.5", True), ("+0.5", True), (".5", True), ("1.", True), ("1", True)],
        *[("nan", False), ("inf", False), ("1e-2", False), ("0x1p-1", False), ("1_0.5", False)],
    ],
)
def test_decimals_are_plain(value: str, ok: bool) -> None:
    tokens = tokenize(f"advert_int {value}", file="f", line=1)[0]
    st = build_tree([tokens], Diagnostics())[0]

    if ok:
        assert to_float(st.args[0]) in (0.5, 1.0)
    else:
        with pytest.raises(BadValue, match="expected a number"):
            to_float(st.args[0])


def test_caret_stays_under_its_token_after_wide_characters() -> None:
    line = '    notify "通知 脚本" badword'
    column = line.index("badword") + 1
    d = Diagnostic(
        severity=Severity.ERROR,
        location=Location(file="f", line=1, column=column, length=7, source_line=line),
        message="m",
    )

    _, shown, caret = d.render().splitlines()
    assert caret == "    " + " " * (column - 1 + 4) + "^~~~~~~"  # 4 wide characters
    assert shown == "    " + line
