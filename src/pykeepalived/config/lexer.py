"""Lexer: one line of keepalived.conf text -> tokens with their columns.

Rules: this module knows keepalived's token syntax and nothing of keywords or files:
whitespace separates words, ``"..."`` groups words into one token, ``{`` and ``}`` are tokens of
their own even when glued to a word, ``!`` or ``#`` outside quotes starts a comment (as in
keepalived's parser), and text that is clearly an unrendered template (``{{ x }}``, ``${VAR}``,
``<placeholder>``) is flagged so the grammar does not pile second errors onto it.
"""

import re
from dataclasses import dataclass

from pykeepalived.config.diagnostics import Location

BRACES = frozenset("{}")
COMMENT_CHARS = frozenset("!#")
_PLACEHOLDER = re.compile(r"<[A-Za-z_][A-Za-z0-9_ .:-]*>")
_ENV_TEMPLATE = re.compile(r"\$\{[^}]*\}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Token:
    text: str
    location: Location
    quoted: bool = False
    template: bool = False

    @property
    def is_open(self) -> bool:
        return self.text == "{" and not self.quoted

    @property
    def is_close(self) -> bool:
        return self.text == "}" and not self.quoted


@dataclass(frozen=True, slots=True, kw_only=True)
class LexIssue:
    """A problem the lexer saw; the caller turns it into a diagnostic."""

    column: int
    length: int
    message: str
    code: str


def tokenize(text: str, *, file: str, line: int) -> tuple[list[Token], list[LexIssue]]:
    """Split one line into tokens; return them with any issues found on the way."""
    tokens: list[Token] = []
    issues: list[LexIssue] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch in COMMENT_CHARS:
            break
        elif text.startswith("{{", i):
            i = _template(text, i, file, line, tokens, issues)
        elif ch in BRACES:
            tokens.append(_token(ch, i, 1, file, line, text))
            i += 1
        elif ch == '"':
            i = _quoted(text, i, file, line, tokens, issues)
        else:
            i = _word(text, i, file, line, tokens, issues)
    return tokens, issues


def _token(
    word: str, start: int, length: int, file: str, line: int, text: str, **kw: bool
) -> Token:
    loc = Location(file=file, line=line, column=start + 1, length=length, source_line=text)
    return Token(text=word, location=loc, **kw)


def _template(
    text: str, i: int, file: str, line: int, tokens: list[Token], issues: list[LexIssue]
) -> int:
    end = text.find("}}", i + 2)
    stop = len(text) if end < 0 else end + 2
    word = text[i:stop]
    tokens.append(_token(word, i, stop - i, file, line, text, template=True))
    issues.append(
        LexIssue(
            column=i + 1,
            length=stop - i,
            message=f"unrendered template '{word}' (a Jinja/Go template was not filled in)",
            code="template",
        )
    )
    return stop


def _quoted(
    text: str, i: int, file: str, line: int, tokens: list[Token], issues: list[LexIssue]
) -> int:
    j = i + 1
    chars: list[str] = []
    while j < len(text) and text[j] != '"':
        if text[j] == "\\" and j + 1 < len(text) and text[j + 1] == '"':
            j += 1
        chars.append(text[j])
        j += 1
    if j >= len(text):
        issues.append(
            LexIssue(
                column=i + 1,
                length=len(text) - i,
                message="unterminated quoted string",
                code="quote",
            )
        )
    stop = min(j + 1, len(text))
    word = "".join(chars)
    template = _flag_template(word, i, stop - i, issues)
    tokens.append(_token(word, i, stop - i, file, line, text, quoted=True, template=template))
    return stop


def _word(
    text: str, i: int, file: str, line: int, tokens: list[Token], issues: list[LexIssue]
) -> int:
    j = i
    while j < len(text) and not text[j].isspace() and text[j] not in BRACES:
        if text[j] in COMMENT_CHARS or text[j] == '"':
            break
        j += 1
    word = text[i:j]
    template = _flag_template(word, i, j - i, issues)
    tokens.append(_token(word, i, j - i, file, line, text, template=template))
    return j


def _flag_template(word: str, start: int, length: int, issues: list[LexIssue]) -> bool:
    found = _ENV_TEMPLATE.search(word) or _PLACEHOLDER.fullmatch(word)
    if not found:
        return False
    kind = "an environment variable" if found.group(0).startswith("$") else "a placeholder"
    issues.append(
        LexIssue(
            column=start + 1,
            length=length,
            message=f"unrendered template '{found.group(0)}' ({kind} was not filled in)",
            code="template",
        )
    )
    return True
