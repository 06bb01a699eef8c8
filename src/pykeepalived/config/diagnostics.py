"""Diagnostics: every finding about a config, with where it is and how bad it is.

Rules: findings are collected, never thrown one at a time, so an operator sees every mistake in
one run. Each carries severity, file, line, column; the text reads like keepalived's
``(file: Line n) message`` followed by the source line and a caret under the offending token.
Nothing here reads files: the source line travels inside the ``Location``.
"""

import enum
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field


class Severity(enum.Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True, kw_only=True)
class Location:
    """A place in a config file: 1-based line and column, and the line's text for the caret."""

    file: str
    line: int
    column: int = 1
    length: int = 1
    source_line: str = ""

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Diagnostic:
    severity: Severity
    location: Location
    message: str
    code: str = ""

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def render(self) -> str:
        """keepalived's wording plus a caret line, e.g.::

        (keepalived.conf: Line 7) error: unknown keyword 'priorty'
            priorty 100
            ^~~~~~~
        """
        loc = self.location
        head = f"({loc.file}: Line {loc.line}) {self.severity.value}: {self.message}"
        if not loc.source_line:
            return head
        text, column, length = _window(loc.source_line.rstrip("\r\n"), loc.column, loc.length)
        pad = _width(text[: column - 1])
        under = max(1, _width(text[column - 1 : column - 1 + length]))
        caret = " " * pad + "^" + "~" * (under - 1)
        return f"{head}\n    {text}\n    {caret}"

    def as_dict(self) -> dict[str, object]:
        loc = self.location
        return {
            "severity": self.severity.value,
            "file": loc.file,
            "line": loc.line,
            "column": loc.column,
            "message": self.message,
            "code": self.code,
        }


WIDTH = 160  # longest source text shown; longer lines show a window around the caret


def _window(text: str, column: int, length: int) -> tuple[str, int, int]:
    """The part of a (possibly huge) line to show, with the caret's column and length in it.

    Tabs become one space (columns count characters); control characters become ``?`` so the
    caret stays under its token on a terminal.
    """
    length = max(1, min(length, WIDTH))
    start = 0 if column + length <= WIDTH else column - 1 - (WIDTH - length) // 2
    shown = text[start : start + WIDTH]
    prefix = "..." if start else ""
    suffix = "..." if start + WIDTH < len(text) else ""
    shown = "".join(c if c.isprintable() else ("?" if c != "\t" else " ") for c in shown)
    return prefix + shown + suffix, column - start + len(prefix), length


def _width(text: str) -> int:
    """Terminal columns of ``text``: East Asian wide characters take two (the seed configs
    carry Chinese comments), combining marks none."""
    if text.isascii():
        return len(text)
    return sum(
        0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1
        for c in text
    )


@dataclass(slots=True)
class Diagnostics:
    """An append-only collection that the pipeline stages share."""

    items: list[Diagnostic] = field(default_factory=list)
    files: dict[str, int] = field(default_factory=dict)  # file -> order in which it was read

    def error(self, location: Location, message: str, code: str = "") -> None:
        message = _shorten(message)
        self.items.append(
            Diagnostic(severity=Severity.ERROR, location=location, message=message, code=code)
        )

    def warning(self, location: Location, message: str, code: str = "") -> None:
        message = _shorten(message)
        self.items.append(
            Diagnostic(severity=Severity.WARNING, location=location, message=message, code=code)
        )

    def extend(self, other: Iterable[Diagnostic]) -> None:
        self.items.extend(other)

    @property
    def has_errors(self) -> bool:
        return any(d.is_error for d in self.items)

    def file_read(self, file: str) -> None:
        """Record that ``file`` is being read, so findings come out in reading order."""
        self.files.setdefault(file, len(self.files))

    def __iter__(self) -> Iterator[Diagnostic]:
        """In reading order: by file (as first read), then line, then column."""
        last = len(self.files)

        def order(d: Diagnostic) -> tuple[int, str, int, int]:
            loc = d.location
            return (self.files.get(loc.file, last), loc.file, loc.line, loc.column)

        return iter(sorted(self.items, key=order))

    def __len__(self) -> int:
        return len(self.items)


_LONG_QUOTE = re.compile(r"'([^']{40})[^']{20,}'")


def _shorten(message: str) -> str:
    """Cut a huge token quoted in a message (junk input) to its first 40 characters."""
    if len(message) <= 200:
        return message
    return _LONG_QUOTE.sub(r"'\1...'", message)[:1000]
