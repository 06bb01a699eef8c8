"""Tree: token lines -> nested statements (keyword, arguments, optional block).

Rules: this module knows keepalived's block syntax and nothing of keywords. A line is one
statement; ``{`` opens a block for the statement before it on the same line, or for the previous
statement when it stands alone on the next line; ``}`` closes it. Braces in the middle of a line
split it, as keepalived does, so ``virtual_ipaddress { 10.0.0.1 }`` and ``} }`` read as people
mean them. Unbalanced braces become diagnostics, never exceptions; given ``Hints`` (which
keywords live where), a missing or early ``}`` is reported once and repaired so that the rest of
the file reads as meant. Blocks nest at most ``MAX_DEPTH`` deep.
"""

from dataclasses import dataclass, field

from pykeepalived.config.diagnostics import Diagnostics, Location
from pykeepalived.config.lexer import Token


class Statement:
    """One keyword with its arguments and, for a block, its nested statements.

    A slotted plain class (construction cost matters on large configs); treat it as immutable.
    """

    __slots__ = ("args", "block", "keyword")

    def __init__(
        self,
        *,
        keyword: Token,
        args: tuple[Token, ...] = (),
        block: tuple["Statement", ...] | None = None,
    ) -> None:
        self.keyword = keyword
        self.args = args
        self.block = block

    @property
    def location(self) -> Location:
        return self.keyword.location

    @property
    def name(self) -> str:
        return self.keyword.text

    def __repr__(self) -> str:
        block = "" if self.block is None else f" {{{len(self.block)} statements}}"
        return f"Statement({self.name!r} {[t.text for t in self.args]}{block})"


@dataclass(slots=True)
class _Open:
    """A statement being built; its block (if any) is still mutable."""

    tokens: list[Token]
    block: list["_Open"] | None = None
    brace: Token | None = None

    def freeze(self) -> Statement:
        block = None if self.block is None else tuple([child.freeze() for child in self.block])
        return Statement(keyword=self.tokens[0], args=tuple(self.tokens[1:]), block=block)


MAX_DEPTH = 64  # keepalived's deepest real block is 4; beyond this, input is junk


@dataclass(frozen=True, slots=True)
class Hints:
    """Keyword sets that let the tree recover from an unbalanced brace (all optional).

    ``top_level_blocks``: keywords that only ever start a top-level block (``vrrp_instance``).
    ``top_level``: every keyword valid at the top level. ``nested``: every keyword valid inside
    some block.
    """

    top_level_blocks: frozenset[str] = frozenset()
    top_level: frozenset[str] = frozenset()
    nested: frozenset[str] = frozenset()


@dataclass(slots=True)
class _Builder:
    diags: Diagnostics
    root: list[_Open] = field(default_factory=list)
    stack: list[_Open] = field(default_factory=list)
    too_deep: int = 0  # braces opened beyond MAX_DEPTH, whose content is dropped
    closed_top: tuple[_Open, Token] | None = None  # the last top-level block and its '}'

    @property
    def siblings(self) -> list[_Open]:
        if not self.stack:
            return self.root
        block = self.stack[-1].block
        assert block is not None
        return block

    def add(self, tokens: list[Token]) -> None:
        if tokens and not self.too_deep:
            self.siblings.append(_Open(tokens=tokens))
            if not self.stack:
                self.closed_top = None

    def open(self, brace: Token, pending: list[Token]) -> None:
        if self.too_deep or len(self.stack) >= MAX_DEPTH:
            if not self.too_deep:
                message = f"blocks nested deeper than {MAX_DEPTH}: their content is ignored"
                self.diags.error(brace.location, message, "brace")
            self.too_deep += 1
            return
        if pending:
            owner = _Open(tokens=pending)
            self.siblings.append(owner)
        elif self.siblings and self.siblings[-1].block is None:
            owner = self.siblings[-1]
        else:
            self.diags.error(brace.location, "'{' without a keyword to open a block for", "brace")
            owner = _Open(tokens=[brace])
            self.siblings.append(owner)
        owner.block = []
        owner.brace = brace
        if not self.stack:
            self.closed_top = None
        self.stack.append(owner)

    def close(self, brace: Token) -> None:
        if self.too_deep:
            self.too_deep -= 1
            return
        if not self.stack:
            self.diags.error(brace.location, "'}' closes no open block", "brace")
            return
        closed = self.stack.pop()
        if not self.stack:
            self.closed_top = (closed, brace)


def build_tree(
    lines: list[list[Token]], diags: Diagnostics, hints: Hints = Hints()
) -> tuple[Statement, ...]:
    """Nest ``lines`` into statements.

    With ``hints``, two unbalanced-brace mistakes are reported once and repaired, so that the
    rest of the file is read as meant instead of drowning in "unknown keyword" errors:
    a top-level block keyword at the start of a line inside an open block (a ``}`` is missing
    before it: the open blocks are closed there), and a keyword that belongs inside a block at
    the top level just after a top-level block closed (that ``}`` came too early: the block is
    reopened).
    """
    builder = _Builder(diags=diags)
    for line in lines:
        first = line[0]
        if not first.quoted and not first.template:
            if builder.stack and first.text in hints.top_level_blocks:
                _recover_missing_close(builder, first)
            elif _closed_too_early(builder, first, hints):
                _reopen(builder, first)
        pending: list[Token] = []
        for token in line:
            if token.is_open:
                builder.open(token, pending)
                pending = []
            elif token.is_close:
                builder.add(pending)
                pending = []
                builder.close(token)
            else:
                pending.append(token)
        builder.add(pending)
    builder.too_deep = 0
    for unclosed in reversed(builder.stack):
        _report_unclosed(unclosed, diags, "")
    return tuple(node.freeze() for node in builder.root)


def _closed_too_early(builder: _Builder, first: Token, hints: Hints) -> bool:
    return (
        builder.closed_top is not None
        and not builder.stack
        and first.text in hints.nested
        and first.text not in hints.top_level
    )


def _reopen(builder: _Builder, first: Token) -> None:
    assert builder.closed_top is not None
    block, brace = builder.closed_top
    name = block.tokens[0].text
    message = f"'}}' closes '{name}' too early: '{first.text}' on line {first.line} belongs in it"
    builder.diags.error(brace.location, message, "brace")
    builder.closed_top = None
    builder.stack.append(block)


def _recover_missing_close(builder: _Builder, keyword: Token) -> None:
    _report_unclosed(builder.stack[0], builder.diags, f" before line {keyword.line}")
    builder.stack.clear()
    builder.too_deep = 0


def _report_unclosed(unclosed: _Open, diags: Diagnostics, where: str) -> None:
    assert unclosed.brace is not None
    name = unclosed.tokens[0].text
    message = f"block of '{name}' is never closed: missing '}}'{where}"
    diags.error(unclosed.brace.location, message, "brace")
