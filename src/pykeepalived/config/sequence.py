"""Sequence lines: keepalived's ``~SEQ(var, start, step, end) text``, ``~SEQx(...)`` and
``~LST(var, value, ...) text`` / ``~LST({var1, var2}, {v1, v2}, ...) text``.

Rules: pure text in, values out; the source layer (``source``) owns files, definitions and
diagnostics, and repeats the text once per value with ``$var`` defined to it. What is read is
keepalived 2.2.7's ``add_seq()`` (lib/parser.c) and keepalived.conf(5) "Sequence blocks":

- the numbers are C ``strtol(..., 0)`` numbers: decimal, ``0x`` hex or ``0`` octal, an optional
  sign; an empty one reads as 0 (keepalived's "missing number"), anything else is an error;
- ``(end)``: start 1 (-1 when end < 0), step 1 (-1 when end < 1);
  ``(start, end)``: step 1 or -1 towards end; ``(start, step, end)``: a step of 0 or one pointing
  away from end is an error;
- the first value is always ``start``; values follow by ``step`` while not past ``end``;
- ``~SEQx`` writes the values in lower-case hex without ``0x`` (for IPv6 addresses) and takes
  no negative number;
- ``~LST`` (``add_lst()``) lists the values: one variable and bare values, or variables in
  braces and one braced set of values per line (a set with fewer values leaves the rest
  blank, one with more is an error); a value has no blank, ``,``, ``}`` or ``)`` in it.
Definitions in the parameters (``~SEQ(I, 1, $N)``) are expanded by the caller's ``expand``.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass

MAX_VALUES = 100_000
"""Lines one ``~SEQ`` line may produce, nested sequences multiplied (keepalived's man page
example makes 65,024 instances); beyond this the input is a mistake, not a config."""

_HEAD = re.compile(r"~SEQ(x?)[ \t]*\(")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_LST = re.compile(r"~LST[ \t]*\(")
# One ~LST item: a braced set or a bare word, then a comma or the end.
_ITEM = re.compile(r"[ \t]*(?:\{([^{}]*)\}|([^,{}]*?))[ \t]*(,|$)")
_NUMBER = re.compile(r"[ \t]*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)?[ \t]*")


class SequenceError(ValueError):
    """A ``~SEQ`` line keepalived would refuse; ``column`` is 0-based in the line."""

    def __init__(self, message: str, column: int, length: int = 1) -> None:
        super().__init__(message)
        self.column = column
        self.length = length


@dataclass(frozen=True, slots=True)
class Sequence:
    names: tuple[str, ...]
    values: tuple[tuple[str, ...], ...]
    """One tuple per repetition, a value for each of ``names``."""
    text_column: int
    """Where the repeated text starts in the line (0-based), after ``)`` and blanks."""


def is_sequence(line: str) -> bool:
    return line.lstrip(" \t").startswith(("~SEQ", "~LST"))


def parse_sequence(line: str, expand: Callable[[str], str]) -> Sequence:
    """Read the ``~SEQ`` or ``~LST`` at the start of ``line`` (after blanks)."""
    start = len(line) - len(line.lstrip(" \t"))
    if line.startswith("~LST", start):
        return _parse_list(line, start)
    usage = "~SEQ(var, start, step, end)"
    head = _HEAD.match(line, start)
    if head is None:
        raise SequenceError(f"invalid ~SEQ: expected '{usage}'", start, 4)
    close = line.find(")", head.end())
    if close < 0:
        raise SequenceError("~SEQ is missing its closing ')'", start, len(line) - start)
    var, comma, params = line[head.end() : close].partition(",")
    var = var.strip(" \t")
    if not comma or not _NAME.fullmatch(var):
        message = f"invalid ~SEQ: expected '{usage}' with a variable name first"
        raise SequenceError(message, start, close + 1 - start)
    numbers = [_strtol(p, start, close + 1 - start) for p in expand(params).split(",")]
    first, step, last = _bounds(numbers, start, close + 1 - start)
    hexadecimal = bool(head.group(1))
    if hexadecimal and (first < 0 or last < 0):
        raise SequenceError("~SEQx takes no negative number", start, close + 1 - start)
    count = (last - first) // step + 1
    if count > MAX_VALUES:
        message = f"~SEQ gives {count} values, more than {MAX_VALUES}"
        raise SequenceError(message, start, close + 1 - start)
    values = range(first, first + count * step, step)
    text = tuple((f"{v:x}" if hexadecimal else str(v),) for v in values)
    return Sequence(names=(var,), values=text, text_column=_text_column(line, close))


def _text_column(line: str, close: int) -> int:
    rest = close + 1
    return rest + len(line[rest:]) - len(line[rest:].lstrip(" \t"))


def _parse_list(line: str, start: int) -> Sequence:
    usage = "~LST(var, value, ...) or ~LST({var, ...}, {value, ...}, ...)"
    head = _LST.match(line, start)
    close = -1 if head is None else line.find(")", head.end())
    if head is None or close < 0:
        raise SequenceError(f"invalid ~LST: expected '{usage}'", start, len(line) - start)
    length = close + 1 - start
    try:
        names, *sets = _list_items(line[head.end() : close])
    except ValueError:
        raise SequenceError(f"invalid ~LST: expected '{usage}'", start, length) from None
    if not sets or not all(_NAME.fullmatch(n) for n in names):
        raise SequenceError(f"invalid ~LST: expected '{usage}'", start, length)
    if any(len(values) > len(names) for values in sets):
        raise SequenceError("~LST specification has too many values", start, length)
    if len(sets) > MAX_VALUES:
        raise SequenceError(f"~LST gives {len(sets)} values, more than {MAX_VALUES}", start, length)
    padded = tuple(tuple(v) + ("",) * (len(names) - len(v)) for v in sets)
    return Sequence(names=tuple(names), values=padded, text_column=_text_column(line, close))


def _list_items(inner: str) -> list[list[str]]:
    """``a, {b, c}, d`` -> ``[[a], [b, c], [d]]``; ValueError when malformed."""
    items: list[list[str]] = []
    for m in _ITEM.finditer(inner):
        braced, bare, end = m.group(1), m.group(2), m.group(3)
        words = braced.split(",") if braced is not None else [bare]
        words = [w.strip(" \t") for w in words]
        if any(not w or " " in w or "\t" in w for w in words):
            raise ValueError(inner)
        items.append(words)
        if end != ",":
            if m.end() != len(inner):
                raise ValueError(inner)
            return items
    raise ValueError(inner)


def _strtol(text: str, column: int, length: int) -> int:
    m = _NUMBER.fullmatch(text)
    if m is None:
        raise SequenceError(f"invalid ~SEQ: '{text.strip()}' is not a number", column, length)
    digits = m.group(2) or "0"
    if digits.lower().startswith("0x"):
        value = int(digits, 16)
    elif digits.startswith("0"):
        value = int(digits, 8)
    else:
        value = int(digits)
    return -value if m.group(1) == "-" else value


def _bounds(numbers: list[int], column: int, length: int) -> tuple[int, int, int]:
    """(start, step, end) from one, two or three numbers, as keepalived defaults them."""
    if len(numbers) == 1:
        last = numbers[0]
        return (-1 if last < 0 else 1), (-1 if last < 1 else 1), last
    if len(numbers) == 2:
        first, last = numbers
        return first, (1 if first <= last else -1), last
    if len(numbers) == 3:
        first, step, last = numbers
        if step == 0 or (first < last and step < 0) or (first > last and step > 0):
            message = f"invalid ~SEQ values: step {step} never goes from {first} to {last}"
            raise SequenceError(message, column, length)
        return first, step, last
    raise SequenceError("invalid ~SEQ: at most start, step and end", column, length)
