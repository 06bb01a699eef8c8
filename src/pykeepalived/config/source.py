"""Source: files -> logical lines of tokens, after keepalived's preprocessing.

Rules: this module owns what keepalived does before parsing: ``include`` (globs, relative to the
including file, at any depth in a block), ``$NAME=value`` definitions (multi-line with a trailing
backslash) and their ``$NAME`` / ``${NAME}`` uses, ``@id`` / ``@^id`` conditional lines selected
by the config id, ``~SEQ(var, start, step, end)`` lines repeated once per value (``sequence``),
``~LST`` lines likewise, a UTF-8 BOM and CRLF line ends. It knows no keywords but ``include``.
Environment findings (a glob that matches nothing) carry the code ``env`` so that
``--check-environment`` can make them errors.
"""

import glob
import os
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from pykeepalived.config.diagnostics import Diagnostics, Location
from pykeepalived.config.lexer import LITERAL_BANG, LITERAL_HASH, Token, tokenize
from pykeepalived.config.sequence import MAX_VALUES, SequenceError, is_sequence, parse_sequence

MAX_INCLUDE_DEPTH = 32
# Files including each other by glob (each `include *.conf`) are not loops but would be read
# n! times; real configs include a few dozen files.
MAX_INCLUDES = 1000
_DEFINITION = re.compile(r"^\$([A-Za-z_][A-Za-z0-9_]*)\s*=(.*)$")
# ``${NAME}`` (``${_RANDOM 1 10}`` takes numbers) or ``$NAME`` followed by a blank, ',', ')' or
# the end of the line, as keepalived's find_definition() accepts them.
_USE = re.compile(
    r"\$\{([A-Za-z_][A-Za-z0-9_]*)((?: +[0-9]+)*)\}|\$([A-Za-z_][A-Za-z0-9_]*)(?=[ \t,)]|$)"
)
MAX_EXPANDED = 64 * 1024  # longest line definitions may expand to (they may nest or recurse)
_BUILTIN = frozenset({"_PWD", "_INSTANCE", "_RANDOM", "_HASH", "_BANG"})

ReadText = Callable[[str], str]


def read_text_file(path: str) -> str:
    with open(path, "rb") as f:
        data = f.read()
    return data.decode("utf-8-sig", errors="replace")


@dataclass(slots=True)
class _State:
    config_id: str
    diags: Diagnostics
    read_text: ReadText
    definitions: dict[str, list[str]] = field(default_factory=dict)
    stack: list[str] = field(default_factory=list)
    lines: list[list[Token]] = field(default_factory=list)
    includes: int = 0  # files included so far, up to MAX_INCLUDES
    loops: set[tuple[str, int, str]] = field(default_factory=set)  # reported once each


def load_lines(
    path: str,
    *,
    config_id: str,
    diags: Diagnostics,
    read_text: ReadText = read_text_file,
    text: str | None = None,
) -> list[list[Token]]:
    """Read ``path`` (or ``text`` given for it) and everything it includes, as token lines."""
    state = _State(config_id=config_id, diags=diags, read_text=read_text)
    if text is None:
        try:
            text = read_text(path)
        except OSError as exc:
            diags.error(
                Location(file=path, line=0), f"cannot read config file: {exc.strerror}", "io"
            )
            return []
    _process_text(text.removeprefix("\ufeff"), path, state)
    return state.lines


def _process_text(text: str, path: str, state: _State) -> None:
    state.diags.file_read(path)
    state.stack.append(os.path.abspath(path))
    physical = _physical_lines(text)
    i = 0
    while i < len(physical):
        number, raw = i + 1, physical[i]
        i += 1
        line = _select_conditional(_decomment(raw), state.config_id)
        if line is None:
            continue
        definition = _DEFINITION.match(line.strip())
        if definition:
            i = _define(definition, physical, i, state)
            continue
        if is_sequence(line):
            _sequence(line, raw, path, number, state, [MAX_VALUES])
            continue
        for expanded in _expand(line, path, number, state):
            _emit(expanded, raw if expanded == line else expanded, path, number, state)
    state.stack.pop()


def _sequence(
    line: str, raw: str, path: str, number: int, state: _State, budget: list[int], repeats: int = 1
) -> bool:
    """keepalived's ``~SEQ(var, start, step, end) text`` (or ``~LST``): ``text`` once per value
    with ``$var`` defined to it; a ``~SEQ`` in ``text`` is read again for each value (its
    numbers may use an outer variable), so the outer sequence turns slowest. ``budget``
    counts the lines left for the whole line, ``repeats`` how often the outer sequences will
    still read this one. False after an error, reported once."""

    def expand(text: str) -> str:
        try:
            return _substitute(text, path, state, [])
        except _TooLong:
            return text

    def error(column: int, length: int, message: str) -> bool:
        where = Location(file=path, line=number, column=column, length=length, source_line=raw)
        state.diags.error(where, message, "sequence")
        return False

    try:
        seq = parse_sequence(line, expand)
    except SequenceError as exc:
        return error(exc.column + 1, exc.length, str(exc))
    if len(seq.values) * repeats > budget[0]:
        return error(1, len(raw), f"nested ~SEQ give more than {MAX_VALUES} lines")
    body = " " * seq.text_column + line[seq.text_column :]
    for k, values in enumerate(seq.values):
        for name, value in zip(seq.names, values, strict=True):
            state.definitions[name] = [value]
        if is_sequence(body):
            left = repeats * (len(seq.values) - k)
            if not _sequence(body, raw, path, number, state, budget, left):
                return False
            continue
        budget[0] -= 1
        for expanded in _expand(body, path, number, state):
            _emit(expanded, raw if expanded == body else expanded, path, number, state)
    return True


# Everything up to the first '!' or '#' outside quotes; a backslash escapes the next character.
_UNCOMMENTED = re.compile(r'(?:\\.?|"(?:\\.?|[^"\\])*"?|[^"\\!#])*')


def _decomment(line: str) -> str:
    """The line without its comment, first of all as keepalived's decomment() does, so that a
    trailing comment neither ends up in a definition nor stops a multi-line one ending a line."""
    if "!" not in line and "#" not in line:
        return line
    match = _UNCOMMENTED.match(line)
    return line if match is None else line[: match.end()]


def _physical_lines(text: str) -> list[str]:
    """Lines as keepalived numbers them: split at LF only (``str.splitlines`` would also split
    at form feeds, NEL and Unicode separators and shift every later line number); a CR before
    the LF is dropped."""
    physical = text.split("\n")
    if physical and not physical[-1]:
        physical.pop()
    return [line[:-1] if line.endswith("\r") else line for line in physical]


def _select_conditional(raw: str, config_id: str) -> str | None:
    """``@id rest`` keeps ``rest`` only for that config id; ``@^id rest`` for every other id.

    The ``@id`` prefix is blanked rather than cut so that columns still match the file.
    """
    stripped = raw.lstrip()
    if not stripped.startswith("@"):
        return raw
    head = stripped.split(None, 1)[0]
    keep = head[2:] != config_id if head.startswith("@^") else head[1:] == config_id
    if not keep:
        return None
    start = raw.index(head)
    return " " * (start + len(head)) + raw[start + len(head) :]


def _define(match: re.Match[str], physical: list[str], i: int, state: _State) -> int:
    """Record ``$NAME=value``; a value ending in a backslash continues on the next lines."""
    name, value = match.group(1), match.group(2).strip()
    body: list[str] = []
    while value.endswith("\\"):
        body.append(value[:-1].rstrip())
        if i >= len(physical):
            value = ""
            break
        value = _decomment(physical[i]).strip()
        i += 1
    body.append(value)
    state.definitions[name] = [b for b in body if b] or [""]
    return i


class _TooLong(Exception):
    pass


def _expand(line: str, path: str, number: int, state: _State) -> list[str]:
    """Substitute definitions, again in what they expand to, as keepalived does. A multi-line
    definition may only end a line: its first line joins the text before it, the others follow
    as lines of their own."""
    if "$" not in line:
        return [line]
    try:
        multi = _multi_line_use_at_end(line, state)
        lines = [line]
        if multi is not None:
            prefix, parts = multi
            lines = [prefix + parts[0], *parts[1:]]
        inside: list[tuple[str, int]] = []
        expanded = [_substitute(part, path, state, inside) for part in lines]
    except _TooLong:
        where = Location(file=path, line=number, length=len(line), source_line=line)
        message = f"definitions expand this line beyond {MAX_EXPANDED} characters (recursive?)"
        state.diags.error(where, message, "definition")
        return []
    for name, column in inside:  # dropped from the line, which is read without them
        where = Location(file=path, line=number, column=column, source_line=line)
        message = f"multi-line definition ${name} can only be used at the end of a line"
        state.diags.error(where, message, "definition")
    return expanded


def _multi_line_use_at_end(line: str, state: _State) -> tuple[str, list[str]] | None:
    stripped = line.rstrip()
    for m in _USE.finditer(stripped):
        name = m.group(1) or m.group(3)
        parts = state.definitions.get(name)
        if m.end() == len(stripped) and parts and len(parts) > 1 and not m.group(2):
            return stripped[: m.start()], parts
    return None


def _substitute(line: str, path: str, state: _State, inside: list[tuple[str, int]]) -> str:
    """Expand ``line``; multi-line definitions used inside it are dropped and noted in
    ``inside`` (name, column)."""

    def one(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(3)
        if m.group(2) and name != "_RANDOM":
            return m.group(0)  # only _RANDOM takes parameters
        if name in state.definitions:
            parts = state.definitions[name]
            if len(parts) > 1:
                inside.append((name, m.start() + 1))
                return ""
            return parts[0]
        if name in _BUILTIN:
            return _builtin(name, m.group(2) or "", path, state)
        return m.group(0)

    for _ in range(64):
        expanded = _USE.sub(one, line)
        if expanded == line:
            return line
        if len(expanded) > MAX_EXPANDED:
            raise _TooLong
        line = expanded
    raise _TooLong


def _builtin(name: str, params: str, path: str, state: _State) -> str:
    """keepalived 2.2.7's built-in definitions."""
    if name == "_PWD":
        return os.path.dirname(os.path.abspath(path))
    if name == "_INSTANCE":
        return state.config_id
    if name == "_HASH":
        return LITERAL_HASH
    if name == "_BANG":
        return LITERAL_BANG
    bounds = [int(p) for p in params.split()] + [0, 32767][len(params.split()) :]
    low, high = bounds[0], bounds[1]
    return str(random.randint(low, high) if high >= low else low)


def _emit(line: str, source_line: str, path: str, number: int, state: _State) -> None:
    """Tokenize ``line``; carets are drawn under ``source_line`` (the file's line unless a
    definition was expanded into it, whose columns are the expanded text's)."""
    tokens, issues = tokenize(line, file=path, line=number, shown=source_line)
    for issue in issues:
        loc = Location(
            file=path,
            line=number,
            column=issue.column,
            length=issue.length,
            source_line=source_line,
        )
        state.diags.error(loc, issue.message, issue.code)
    if not tokens:
        return
    if tokens[0].text == "include" and not tokens[0].quoted:
        _include(tokens, path, state)
        return
    state.lines.append(tokens)


def _include(tokens: list[Token], path: str, state: _State) -> None:
    where = tokens[0].location
    if len(tokens) < 2 or not tokens[1].text.strip():
        state.diags.error(where, "include needs a file name or glob", "include")
        return
    pattern = tokens[1].text
    if not os.path.isabs(pattern):
        pattern = os.path.join(os.path.dirname(path), pattern)
    matches = sorted(glob.glob(pattern))
    if not matches:
        state.diags.warning(
            tokens[1].location, f"include '{tokens[1].text}' matches no file", "env"
        )
        return
    for match in matches:
        _include_one(match, tokens[1].location, state)


def _include_one(match: str, where: Location, state: _State) -> None:
    if os.path.abspath(match) in state.stack:
        key = (where.file, where.line, match)
        if key not in state.loops:
            state.loops.add(key)
            start = state.stack.index(os.path.abspath(match))
            chain = " -> ".join(os.path.basename(p) for p in [*state.stack[start:], match])
            state.diags.error(where, f"include loop: {chain}", "include")
        return
    if len(state.stack) >= MAX_INCLUDE_DEPTH:
        state.diags.error(where, f"includes nested deeper than {MAX_INCLUDE_DEPTH}", "include")
        return
    if state.includes >= MAX_INCLUDES:
        if state.includes == MAX_INCLUDES:
            message = f"more than {MAX_INCLUDES} files included: the rest are ignored"
            state.diags.error(where, message, "include")
            state.includes += 1
        return
    if os.path.isdir(match):
        return
    if not os.path.isfile(match):
        if match != os.devnull:  # an empty include; a FIFO or a device could block the read
            state.diags.error(where, f"included '{match}' is not a regular file", "env")
        return
    try:
        text = state.read_text(match)
    except OSError as exc:
        state.diags.error(where, f"cannot read included file '{match}': {exc.strerror}", "env")
        return
    state.includes += 1
    _process_text(text.removeprefix("\ufeff"), match, state)
