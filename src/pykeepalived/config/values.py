"""Values: converters from a statement's argument tokens to typed Python values.

Rules: each converter is a small factory returning ``parse(statement, context) -> value`` for the
grammar; on bad input it raises ``BadValue`` naming the offending token, so the caret lands on it.
Converters never read files or the machine: environment findings belong to ``checks``.
"""

import ipaddress
import re
import socket
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from pykeepalived.config.grammar import (
    CONVERTER_BUGS,
    BadValue,
    Context,
    Parse,
    extra_arguments,
    parse_block,
    report_bug,
    undefined_hint,
)
from pykeepalived.config.lexer import Token
from pykeepalived.config.tree import Statement

T = TypeVar("T")
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface


def arg(st: Statement, index: int = 0, what: str = "a value") -> Token:
    if len(st.args) <= index:
        raise BadValue(st.keyword, f"'{st.name}' needs {what}", "missing")
    return st.args[index]


def no_block(st: Statement) -> None:
    if st.block is not None:
        raise BadValue(st.keyword, f"'{st.name}' takes no block", "block")


def warn_extra(st: Statement, ctx: Context, used: int) -> None:
    extra_arguments(st, used, ctx)


# Numbers as keepalived reads them: ASCII digits only (Python's int() and float() would also
# take '1_000', Unicode digits, '1e3', 'inf' and 'nan').
_INT = re.compile(r"[+-]?[0-9]{1,30}")
_DECIMAL = re.compile(r"[+-]?(?:[0-9]{1,30}(?:\.[0-9]{0,30})?|\.[0-9]{1,30})")


def to_int(token: Token, lo: int | None = None, hi: int | None = None, what: str = "") -> int:
    if not _INT.fullmatch(token.text):
        raise BadValue(token, f"expected a whole number{what}, got '{token.text}'")
    value = int(token.text, 10)
    _check_range(token, value, lo, hi)
    return value


def to_float(token: Token, lo: float | None = None, hi: float | None = None) -> float:
    if not _DECIMAL.fullmatch(token.text):
        raise BadValue(token, f"expected a number, got '{token.text}'")
    value = float(token.text)
    _check_range(token, value, lo, hi)
    return value


def _check_range(token: Token, value: float, lo: float | None, hi: float | None) -> None:
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        low = "" if lo is None else f"{lo:g}"
        high = "" if hi is None else f"{hi:g}"
        raise BadValue(token, f"{token.text} is out of range [{low}..{high}]", "range")


def to_address(token: Token) -> IPAddress:
    text = token.text.split("%", 1)[0]
    try:
        # inet_pton accepts exactly the dotted quads ipaddress does, four times faster.
        return ipaddress.IPv4Address(socket.inet_pton(socket.AF_INET, text))
    except (OSError, ValueError):
        pass
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        raise BadValue(token, f"'{token.text}' is not an IP address", "address") from None


def to_interface(token: Token) -> IPInterface:
    """An address with an optional prefix (``192.168.88.100/24``)."""
    text = token.text
    try:
        if "/" in text:
            return ipaddress.ip_interface(text)
        return ipaddress.ip_interface(to_address(token))
    except ValueError:
        raise BadValue(
            token, f"'{text}' is not an IP address or address/prefix", "address"
        ) from None


def integer(lo: int | None = None, hi: int | None = None) -> Parse:
    def parse(st: Statement, ctx: Context) -> int:
        no_block(st)
        warn_extra(st, ctx, 1)
        return to_int(arg(st), lo, hi)

    return parse


def number(lo: float | None = None, hi: float | None = None) -> Parse:
    def parse(st: Statement, ctx: Context) -> float:
        no_block(st)
        warn_extra(st, ctx, 1)
        return to_float(arg(st), lo, hi)

    return parse


def word() -> Parse:
    def parse(st: Statement, ctx: Context) -> str:
        no_block(st)
        warn_extra(st, ctx, 1)
        return arg(st).text

    return parse


def text() -> Parse:
    """All arguments joined by one space: script command lines, free text."""

    def parse(st: Statement, ctx: Context) -> str:
        no_block(st)
        arg(st)
        return " ".join(t.text for t in st.args)

    return parse


def words() -> Parse:
    def parse(st: Statement, ctx: Context) -> tuple[str, ...]:
        no_block(st)
        return tuple(t.text for t in st.args)

    return parse


def optional_word(default: str = "") -> Parse:
    def parse(st: Statement, ctx: Context) -> str:
        no_block(st)
        warn_extra(st, ctx, 1)
        return st.args[0].text if st.args else default

    return parse


def flag() -> Parse:
    """A keyword that stands alone; an explicit ``true``/``false``-like word is honoured too."""

    def parse(st: Statement, ctx: Context) -> bool:
        no_block(st)
        if not st.args:
            return True
        return to_bool(st.args[0])

    return parse


def to_bool(token: Token) -> bool:
    value = token.text.lower()
    if value in ("true", "yes", "on", "1", "enabled"):
        return True
    if value in ("false", "no", "off", "0", "disabled"):
        return False
    raise BadValue(token, f"expected true/false, got '{token.text}'")


def choice(options: Mapping[str, str], *, what: str, fold_case: bool = True) -> Parse:
    """One of ``options`` (spelling -> canonical); other spellings by case get a warning."""

    def parse(st: Statement, ctx: Context) -> str:
        no_block(st)
        warn_extra(st, ctx, 1)
        token = arg(st)
        return pick(token, options, what=what, ctx=ctx, fold_case=fold_case)

    return parse


def pick(
    token: Token, options: Mapping[str, str], *, what: str, ctx: Context, fold_case: bool = True
) -> str:
    if token.text in options:
        return options[token.text]
    if fold_case:
        folded = {k.lower(): v for k, v in options.items()}
        if token.text.lower() in folded:
            canonical = folded[token.text.lower()]
            ctx.diags.warning(
                token.location,
                f"{what} '{token.text}' is written in the old spelling; use '{canonical}'",
                "deprecated",
            )
            return canonical
    allowed = ", ".join(sorted(set(options.values())))
    raise BadValue(token, f"unknown {what} '{token.text}' (one of: {allowed})", "choice")


def address() -> Parse:
    def parse(st: Statement, ctx: Context) -> IPAddress:
        no_block(st)
        warn_extra(st, ctx, 1)
        return to_address(arg(st))

    return parse


def block(cls: type[T], header: Callable[[Statement], Mapping[str, Any]] | None = None) -> Parse:
    """A nested block parsed into ``cls``; ``header`` turns the keyword's arguments into fields."""

    def parse(st: Statement, ctx: Context) -> T:
        if st.block is None:
            raise BadValue(st.keyword, f"'{st.name}' needs a {{ }} block", "block")
        head = header(st) if header else {}
        if header is None:
            warn_extra(st, ctx, 0)
        places = _header_places(st, head)
        built = parse_block(
            cls, st.block, ctx, header=head, header_places=places, location=st.location
        )
        if built is None:
            raise BadValue(st.keyword, f"'{st.name}' block is invalid", "invalid")
        return built

    return parse


def _header_places(st: Statement, head: Mapping[str, Any]) -> dict[str, Token]:
    """Where each header field was written: the argument that reads as its value (an address,
    costly to print, is the first argument, as in every keepalived block header)."""
    places: dict[str, Token] = {}
    for name, value in head.items():
        if not isinstance(value, str | int):
            if st.args:
                places[name] = st.args[0]
            continue
        text = str(value)
        for token in st.args:
            if token.text == text:
                places[name] = token
                break
    return places


def lines(item: Callable[[Statement, Context], T]) -> Parse:
    """A block whose every line is one item (``virtual_ipaddress { ... }``): a tuple of items.

    A bad line is reported and skipped; the other lines still count.
    """

    def parse(st: Statement, ctx: Context) -> tuple[T, ...]:
        if st.block is None:
            raise BadValue(st.keyword, f"'{st.name}' needs a {{ }} block", "block")
        items: list[T] = []
        for line in st.block:
            if line.keyword.template or any(t.template for t in line.args):
                continue  # reported by the lexer; a guess at its value would cascade
            try:
                items.append(item(line, ctx))
            except BadValue as bad:
                if not bad.already_reported:
                    hint = _misplaced(line, ctx) or undefined_hint(line)
                    ctx.diags.error(bad.location, bad.message + hint, bad.code)
            except CONVERTER_BUGS as exc:
                report_bug(line, exc, ctx)
        return tuple(items)

    return parse


def _misplaced(line: Statement, ctx: Context) -> str:
    """A keyword among a block's items (``priority`` in ``virtual_ipaddress``): a '}' is
    probably missing before it."""
    homes = ctx.homes.get(line.name)
    if not homes:
        return ""
    return f"; '{line.name}' is a keyword of {homes[0]}: is a '}}' missing before it?"


def header_name(st: Statement) -> dict[str, Any]:
    """``vrrp_instance NAME {``: the block's name is its one argument."""
    return {"name": arg(st, 0, "a name").text}


def all_tokens(st: Statement) -> Sequence[Token]:
    return (st.keyword, *st.args)
