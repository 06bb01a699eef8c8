"""Tree: token lines -> nested statements (keyword, arguments, optional block).

Rules: this module knows keepalived's block syntax and nothing of keywords. A line is one
statement; ``{`` opens a block for the statement before it on the same line, or for the previous
statement when it stands alone on the next line; ``}`` closes it. Braces in the middle of a line
split it, as keepalived does, so ``virtual_ipaddress { 10.0.0.1 }`` and ``} }`` read as people
mean them. Unbalanced braces become diagnostics, never exceptions.
"""

from dataclasses import dataclass, field

from pykeepalived.config.diagnostics import Diagnostics, Location
from pykeepalived.config.lexer import Token


@dataclass(frozen=True, slots=True, kw_only=True)
class Statement:
    keyword: Token
    args: tuple[Token, ...] = ()
    block: tuple["Statement", ...] | None = None

    @property
    def location(self) -> Location:
        return self.keyword.location

    @property
    def name(self) -> str:
        return self.keyword.text


@dataclass(slots=True)
class _Open:
    """A statement being built; its block (if any) is still mutable."""

    tokens: list[Token]
    block: list["_Open"] | None = None
    brace: Token | None = None

    def freeze(self) -> Statement:
        block = None if self.block is None else tuple(child.freeze() for child in self.block)
        return Statement(keyword=self.tokens[0], args=tuple(self.tokens[1:]), block=block)


@dataclass(slots=True)
class _Builder:
    diags: Diagnostics
    root: list[_Open] = field(default_factory=list)
    stack: list[_Open] = field(default_factory=list)

    @property
    def siblings(self) -> list[_Open]:
        if not self.stack:
            return self.root
        block = self.stack[-1].block
        assert block is not None
        return block

    def add(self, tokens: list[Token]) -> None:
        if tokens:
            self.siblings.append(_Open(tokens=tokens))

    def open(self, brace: Token, pending: list[Token]) -> None:
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
        self.stack.append(owner)

    def close(self, brace: Token) -> None:
        if not self.stack:
            self.diags.error(brace.location, "'}' closes no open block", "brace")
            return
        self.stack.pop()


def build_tree(lines: list[list[Token]], diags: Diagnostics) -> tuple[Statement, ...]:
    builder = _Builder(diags=diags)
    for line in lines:
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
    for unclosed in reversed(builder.stack):
        assert unclosed.brace is not None
        name = unclosed.tokens[0].text
        diags.error(
            unclosed.brace.location, f"block of '{name}' is never closed: missing '}}'", "brace"
        )
    return tuple(node.freeze() for node in builder.root)
