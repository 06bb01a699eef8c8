"""Sequence lines (keepalived's ``~SEQ(var, start, step, end) text``, ``~SEQx``).

The expected values are keepalived 2.2.7's: each case's VIP list is what its ``--dump-conf``
printed for the same line, and each refused line is one its ``-t`` refused on the same line.
"""

import pytest
from hypothesis import given
from hypothesis import strategies as st
from syntax_helpers import INSTANCE, load_text, only_instance

from pykeepalived.config.sequence import MAX_VALUES, SequenceError, parse_sequence

VIPS = "    virtual_ipaddress {\n        192.168.1.10/24\n    }"


def vips(lines: str, block: str = "virtual_ipaddress") -> str:
    return INSTANCE.replace(VIPS, f"    {block} {{\n{lines}\n    }}")


def addresses(text: str) -> list[str]:
    inst = only_instance(load_text(text))
    return [str(v.address) for v in (*inst.virtual_ipaddress, *inst.virtual_ipaddress_excluded)]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("~SEQ(A, 3) 10.1.${A}.1/32", ["10.1.1.1/32", "10.1.2.1/32", "10.1.3.1/32"]),
        ("~SEQ(A, 0) 10.1.${A}.1/32", ["10.1.1.1/32", "10.1.0.1/32"]),
        ("~SEQ(B, 010, 012) 10.2.${B}.1/32", ["10.2.8.1/32", "10.2.9.1/32", "10.2.10.1/32"]),
        ("~SEQ(C, 3, 1) 10.3.${C}.1/32", ["10.3.3.1/32", "10.3.2.1/32", "10.3.1.1/32"]),
        ("~SEQ(D, , 2) 10.4.${D}.1/32", ["10.4.0.1/32", "10.4.1.1/32", "10.4.2.1/32"]),
        ("~SEQ(F, 0, 4, 9) 10.6.${F}.1/32", ["10.6.0.1/32", "10.6.4.1/32", "10.6.8.1/32"]),
        ("~SEQ ( G , 0x1 , 0x2 ) 10.7.${G}.1/32", ["10.7.1.1/32", "10.7.2.1/32"]),
        ("~SEQ(H, 5, 5) 10.8.${H}.1/32", ["10.8.5.1/32"]),
    ],
)
def test_values_as_keepalived_counts_them(line: str, expected: list[str]) -> None:
    assert addresses(vips(f"        {line}")) == expected


def test_nested_sequences_turn_the_outer_one_slowest_and_may_use_its_variable() -> None:
    text = vips(
        "        ~SEQ(A, 2) ~SEQ(B, $A, 3) 10.9.${A}.${B}/32\n"
        "        ~SEQx(NET, 0x90, 0x10, 0xb0) ~SEQx(H, 0x2, -1, 0x1) fd00::${NET}:${H}/64",
        block="virtual_ipaddress_excluded",
    )
    assert addresses(text) == [
        "10.9.1.1/32", "10.9.1.2/32", "10.9.1.3/32", "10.9.2.2/32", "10.9.2.3/32",
        "fd00::90:2/64", "fd00::90:1/64", "fd00::a0:2/64", "fd00::a0:1/64",
        "fd00::b0:2/64", "fd00::b0:1/64",
    ]  # fmt: skip


def test_parameters_may_be_definitions_and_text_a_multi_line_one() -> None:
    text = (
        "$LAST=12\n"
        "$INST=vrrp_instance VI_${ID} { \\\n"
        "    interface eth0 \\\n"
        "    virtual_router_id ${ID} \\\n"
        "    virtual_ipaddress { \\\n"
        "        10.20.${ID}.1/24 \\\n"
        "    } \\\n"
        "}\n"
        "~SEQ(ID, 10, $LAST) $INST\n"
    )
    result = load_text(text)
    assert result.ok, [d.render() for d in result.diagnostics]
    assert result.config is not None
    got = [(i.name, i.virtual_router_id) for i in result.config.vrrp_instance]
    assert got == [("VI_10", 10), ("VI_11", 11), ("VI_12", 12)]


def test_conditional_sequence_line() -> None:
    line = "        @lb2 ~SEQ(A, 2) 10.1.${A}.1/32\n        @lb1 ~SEQ(A, 1) 10.2.${A}.1/32"
    assert addresses(vips(line)) == ["10.2.1.1/32"]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("~SEQ(E, 1, -1, 3) 10.5.${E}.1/32", "invalid ~SEQ values: step -1 never goes from 1"),
        ("~SEQ G 10.7.1.1/32", "invalid ~SEQ: expected '~SEQ(var, start, step, end)'"),
        ("~SEQ(H, 1, x) 10.8.1.1/32", "invalid ~SEQ: 'x' is not a number"),
        ("~SEQ(1X, 1, 2) 10.8.1.1/32", "with a variable name first"),
        ("~SEQ(I, 1, 2 10.8.1.1/32", "~SEQ is missing its closing ')'"),
        ("~SEQ(J, 1, 2, 3, 4) 10.8.1.1/32", "at most start, step and end"),
        ("~SEQx(K, -2, 2) fd00::${K}/64", "~SEQx takes no negative number"),
        ("~SEQ(L, 0, 1000000) 10.8.1.1/32", f"more than {MAX_VALUES}"),
    ],
)
def test_a_bad_sequence_is_one_error_under_it(line: str, message: str) -> None:
    result = load_text(vips(f"        {line}\n        10.0.0.1/32"))

    (d,) = result.diagnostics
    assert (d.severity.value, d.code, d.location.line, d.location.column) == (
        "error", "sequence", 7, 9
    )  # fmt: skip
    assert message in d.message
    assert d.render().splitlines()[1] == f"            {line}"  # rendered 4 spaces in


def test_nested_sequences_are_bounded_as_a_whole_and_reported_once() -> None:
    line = "        ~SEQ(A, 1000) ~SEQ(B, 1000) 10.1.1.1/32"
    result = load_text(vips(line))

    (d,) = [d for d in result.diagnostics if d.code == "sequence"]
    assert f"more than {MAX_VALUES} lines" in d.message


def test_an_error_in_a_nested_sequence_is_reported_once() -> None:
    result = load_text(vips("        ~SEQ(A, 5) ~SEQ(B, 0, 0, 3) 10.1.1.1/32"))

    assert [d.code for d in result.diagnostics] == ["sequence"]


def test_a_bad_value_made_by_a_sequence_is_shown_expanded() -> None:
    result = load_text(vips("        ~SEQ(A, 254, 256) 10.1.${A}.1/32"))

    (d,) = result.errors
    assert d.location.line == 7
    assert d.render().splitlines()[1:] == [
        "                              10.1.256.1/32",
        "                              ^~~~~~~~~~~~~",
    ]


def test_lists_alone_nested_and_with_a_sequence() -> None:
    """keepalived.conf(5)'s ~LST examples, and a short value set left blank."""
    text = vips(
        "        ~LST({IP, IP1}, {10,1},{20,4},{5,6}) 192.168.${IP}.${IP1}/32\n"
        "        ~LST(IP, 1, 2) ~LST(IP1, 5,6) 192.169.${IP}.${IP1}/32\n"
        "        ~LST({IP, IP1}, {10,1},{20,4}) ~SEQ(IP2,168,2,170) 10.${IP2}.${IP}.${IP1}/32\n"
        "        ~LST({A, B}, {1}, {2, 3}) 10.7.1${A}.1${B}/32"
    )
    assert addresses(text) == [
        "192.168.10.1/32", "192.168.20.4/32", "192.168.5.6/32",
        "192.169.1.5/32", "192.169.1.6/32", "192.169.2.5/32", "192.169.2.6/32",
        "10.168.10.1/32", "10.170.10.1/32", "10.168.20.4/32", "10.170.20.4/32",
        "10.7.11.1/32", "10.7.12.13/32",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("~LST({A}, {1,2}) 10.1.1.${A}/32", "~LST specification has too many values"),
        ("~LST(A) 10.1.2.1/32", "invalid ~LST"),
        ("~LST A, 1 10.1.3.1/32", "invalid ~LST"),
        ("~LST(A, 1 2) 10.1.4.${A}/32", "invalid ~LST"),
        ("~LST(A, 1, 2 10.1.5.${A}/32", "invalid ~LST"),
    ],
)
def test_a_bad_list_is_one_error_under_it(line: str, message: str) -> None:
    """Each line is one keepalived 2.2.7's -t refuses (Invalid ~LST specification)."""
    result = load_text(vips(f"        {line}\n        10.0.0.1/32"))

    (d,) = result.diagnostics
    assert (d.code, d.location.line, d.location.column) == ("sequence", 7, 9)
    assert message in d.message


@given(
    head=st.sampled_from(["~SEQ", "~SEQx", "~LST"]),
    body=st.text(alphabet="(){},xX -+0123456789abAB_\t$", max_size=40),
)
def test_any_sequence_line_gives_values_or_one_sequence_error(head: str, body: str) -> None:
    line = f"  {head}{body} text"
    try:
        seq = parse_sequence(line, lambda params: params)
    except SequenceError as exc:
        column = exc.column
        assert 0 <= column < len(line)
        return
    assert 1 <= len(seq.values) <= MAX_VALUES
    assert all(len(values) == len(seq.names) for values in seq.values)
    assert 0 < seq.text_column <= len(line)
