"""Lexer: one line of keepalived.conf text -> tokens with their columns.

Rules: this module knows keepalived's token syntax and nothing of keywords or files:
whitespace separates words, ``"..."`` groups words into one token, ``{`` and ``}`` are tokens of
their own even when glued to a word, ``!`` or ``#`` outside quotes starts a comment unless
written ``\\#`` / ``\\!`` (keepalived's decomment()), and text that is clearly an unrendered
template (``{{ x }}``, ``${VAR}``, ``<placeholder>``) is flagged so the grammar does not pile
second errors onto it.
"""

import re
from dataclasses import dataclass

from pykeepalived.config.diagnostics import Location

COMMENT_CHARS = frozenset("!#")
# What ``$_HASH`` / ``$_BANG`` expand to: a '#' / '!' that does not start a comment.
LITERAL_HASH, LITERAL_BANG = "\ue000", "\ue001"
_LITERALS = str.maketrans({LITERAL_HASH: "#", LITERAL_BANG: "!"})
_PLACEHOLDER = re.compile(r"<[A-Za-z_][A-Za-z0-9_ .:-]*>")
_ENV_TEMPLATE = re.compile(r"\$\{[^}]*\}")
_JINJA = re.compile(r"\{\{.*?(?:\}\}|$)|\{%.*?(?:%\}|$)|<%.*?(?:%>|$)")
# One alternative per token kind, tried in this order at each position of the line.
_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
    | (?P<comment>[!\#])
    | (?P<template>\{\{.*?(?:\}\}|$)|\{%.*?(?:%\}|$)|<%.*?(?:%>|$))
    | (?P<brace>[{}])
    | (?P<quoted>"(?:\\"|[^"])*(?P<end>"?))
    | (?P<word>(?:\\[!\#]|\$\{[^}\s]*\}|[^\s{}!\#"])+)
    """,
    re.VERBOSE,
)
# Most lines have only words and braces: they take a simpler, faster path.
_SPECIAL = re.compile(r'[!#"$<\\\ue000\ue001]|\{[{%]')
_SIMPLE = re.compile(r"[{}]|[^\s{}]+")


class Token:
    """One word of a line and where it was written.

    A plain slotted class rather than a frozen dataclass because a large config has hundreds of
    thousands of them and construction cost dominates loading; treat it as immutable. The
    ``Location`` is built on first use.
    """

    __slots__ = (
        "_location",
        "column",
        "file",
        "length",
        "line",
        "quoted",
        "source_line",
        "template",
        "text",
    )

    def __init__(
        self,
        text: str,
        file: str,
        line: int,
        column: int,
        length: int,
        source_line: str,
        quoted: bool = False,
        template: bool = False,
    ) -> None:
        self.text = text
        self.file = file
        self.line = line
        self.column = column
        self.length = length
        self.source_line = source_line
        self.quoted = quoted
        self.template = template  # unrendered template or open quote: reported, not read
        self._location: Location | None = None

    @property
    def location(self) -> Location:
        loc = self._location
        if loc is None:
            loc = Location(
                file=self.file,
                line=self.line,
                column=self.column,
                length=self.length,
                source_line=self.source_line,
            )
            self._location = loc
        return loc

    @property
    def is_open(self) -> bool:
        return self.text == "{" and not self.quoted

    @property
    def is_close(self) -> bool:
        return self.text == "}" and not self.quoted

    def __repr__(self) -> str:
        return f"Token({self.text!r} at {self.file}:{self.line}:{self.column})"


@dataclass(frozen=True, slots=True, kw_only=True)
class LexIssue:
    """A problem the lexer saw; the caller turns it into a diagnostic."""

    column: int
    length: int
    message: str
    code: str


def tokenize(
    text: str, *, file: str, line: int, shown: str | None = None
) -> tuple[list[Token], list[LexIssue]]:
    """Split one line into tokens; return them with any issues found on the way.

    ``shown`` is the text to draw carets under (the same columns as ``text``), by default ``text``.
    """
    source = text if shown is None else shown
    if not _SPECIAL.search(text):
        return [
            Token(m.group(), file, line, m.start() + 1, m.end() - m.start(), source)
            for m in _SIMPLE.finditer(text)
        ], []
    tokens: list[Token] = []
    issues: list[LexIssue] = []
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup
        if kind == "space":
            continue
        start, stop = m.span()
        if kind == "comment":
            break
        word = m.group()
        if kind == "word":
            if "\\" in word:  # keepalived's decomment(): \# and \! are a literal # and !
                word = word.replace("\\#", "#").replace("\\!", "!")
            template = ("$" in word or "<" in word) and _flag_template(word, start, issues)
            tokens.append(Token(word, file, line, start + 1, stop - start, source, False, template))
        elif kind == "brace":
            tokens.append(Token(word, file, line, start + 1, 1, source))
        elif kind == "template":
            tokens.append(Token(word, file, line, start + 1, stop - start, source, False, True))
            kind_name = "an ERB template" if word.startswith("<%") else "a Jinja/Go template"
            issues.append(_template_issue(word, start, stop - start, kind_name))
        else:
            tokens.append(_quoted(m, text, source, file, line, issues))
    if LITERAL_HASH in text or LITERAL_BANG in text:
        for token in tokens:
            token.text = token.text.translate(_LITERALS)
    if len(issues) > 1:
        # One unrendered template per line is enough to say what happened.
        templates = [i for i in issues if i.code == "template"]
        issues = [i for i in issues if i.code != "template"] + templates[:1]
    return tokens, issues


def _quoted(
    m: re.Match[str], text: str, source: str, file: str, line: int, issues: list[LexIssue]
) -> Token:
    start, stop = m.span()
    if not m.group("end"):
        issues.append(
            LexIssue(
                column=start + 1,
                length=stop - start,
                message="unterminated quoted string",
                code="quote",
            )
        )
        body = text[start + 1 : stop]
    else:
        body = text[start + 1 : stop - 1]
    word = body.replace('\\"', '"')
    # An unterminated quote is reported here; like a template, nothing is read from it.
    template = _flag_template(word, start, issues, stop - start) or not m.group("end")
    return Token(word, file, line, start + 1, stop - start, source, True, template)


def _template_issue(word: str, start: int, length: int, kind: str) -> LexIssue:
    return LexIssue(
        column=start + 1,
        length=length,
        message=f"unrendered template '{word}' ({kind} was not filled in)",
        code="template",
    )


def _flag_template(word: str, start: int, issues: list[LexIssue], length: int = 0) -> bool:
    length = length or len(word)
    found = _JINJA.search(word)
    if found:
        issues.append(_template_issue(found.group(0), start, length, "a Jinja/Go template"))
        return True
    found = _ENV_TEMPLATE.search(word)
    if found:
        issues.append(_template_issue(found.group(0), start, length, "an environment variable"))
        return True
    if _PLACEHOLDER.fullmatch(word):
        issues.append(_template_issue(word, start, length, "a placeholder"))
        return True
    return False
