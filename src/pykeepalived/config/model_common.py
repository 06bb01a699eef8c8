"""Model pieces shared by the VRRP and LVS sides: scripts, tracked objects, line parsers.

Rules: frozen value objects and the converters that build them from one statement. Field names
are keepalived's words.
"""

from dataclasses import dataclass

from pykeepalived.config.diagnostics import Location
from pykeepalived.config.grammar import BadValue, Context, Parse, SetFields
from pykeepalived.config.lexer import Token
from pykeepalived.config.tree import Statement
from pykeepalived.config.values import no_block, to_int, warn_extra


@dataclass(frozen=True, slots=True, kw_only=True)
class Script:
    """A command keepalived runs: ``notify_master "/bin/x arg" [username [groupname]]``."""

    command: str
    username: str | None = None
    groupname: str | None = None

    @property
    def program(self) -> str:
        return self.command.split()[0] if self.command.split() else ""


def script() -> Parse:
    """A quoted command line, or an unquoted single word, then an optional user and group.

    keepalived reads an unquoted command as one word; further words are the user and group.
    """

    def parse(st: Statement, ctx: Context) -> Script:
        no_block(st)
        if not st.args:
            raise BadValue(st.keyword, f"'{st.name}' needs a script", "missing")
        first, rest = st.args[0], st.args[1:]
        warn_extra(st, ctx, 3)
        return Script(
            command=first.text,
            username=rest[0].text if rest else None,
            groupname=rest[1].text if len(rest) > 1 else None,
        )

    return parse


@dataclass(frozen=True, slots=True, kw_only=True)
class Tracked:
    """One line of a ``track_*`` block: ``NAME [weight W [reverse|noreverse]]``.

    ``weight`` None: the tracked object's own weight *and* reverse apply (keepalived reads
    ``reverse`` only after ``weight W``).
    """

    name: str
    weight: int | None = None
    reverse: bool = False
    location: Location | None = None


def tracked(lo: int, hi: int) -> "TrackedLine":
    return TrackedLine(lo, hi)


class TrackedLine:
    """Parser of a tracking line with weight bounds that depend on the tracked kind."""

    def __init__(self, lo: int, hi: int) -> None:
        self.lo, self.hi = lo, hi

    def __call__(self, st: Statement, ctx: Context) -> Tracked:
        no_block(st)
        words = list(st.args)
        weight: int | None = None
        reverse = False
        while words:
            token = words.pop(0)
            weight, reverse = self._option(token, words, weight, reverse, ctx)
        return Tracked(name=st.keyword.text, weight=weight, reverse=reverse, location=st.location)

    def _option(
        self, token: Token, words: list[Token], weight: int | None, reverse: bool, ctx: Context
    ) -> tuple[int | None, bool]:
        if token.text == "weight":
            if not words:
                raise BadValue(token, "'weight' needs a number", "missing")
            return to_int(words.pop(0), self.lo, self.hi), reverse
        if token.text == "reverse":
            return weight, True
        if token.text in ("no_reverse", "noreverse"):
            return weight, False
        raise BadValue(token, f"unexpected '{token.text}' (expected weight N or reverse)", "syntax")


def weight_reverse(lo: int, hi: int) -> Parse:
    """``weight N [reverse|noreverse]``: sets ``weight`` and ``weight_reverse``."""

    def parse(st: Statement, ctx: Context) -> SetFields:
        no_block(st)
        if not st.args:
            raise BadValue(st.keyword, "'weight' needs a number", "missing")
        reverse = len(st.args) > 1 and st.args[1].text == "reverse"
        if len(st.args) > 1 and st.args[1].text not in ("reverse", "noreverse"):
            raise BadValue(st.args[1], f"unexpected '{st.args[1].text}' (expected reverse)")
        warn_extra(st, ctx, 2)
        return SetFields(weight=to_int(st.args[0], lo, hi), weight_reverse=reverse)

    return parse


def deprecated_word(message: str) -> Parse:
    """A keyword keepalived still reads but deprecates: its one word, with a warning."""

    def parse(st: Statement, ctx: Context) -> str:
        no_block(st)
        if not st.args:
            raise BadValue(st.keyword, f"'{st.name}' needs a value", "missing")
        warn_extra(st, ctx, 1)
        ctx.diags.warning(st.location, message, "deprecated")
        return st.args[0].text

    return parse


def deprecated_flag(message: str) -> Parse:
    """A keyword standing alone that keepalived still reads but deprecates: true, with a warning."""

    def parse(st: Statement, ctx: Context) -> bool:
        no_block(st)
        warn_extra(st, ctx, 0)
        ctx.diags.warning(st.location, message, "deprecated")
        return True

    return parse


@dataclass(frozen=True, slots=True, kw_only=True)
class InitFile:
    """``init_file [VALUE] [overwrite]``: create the tracked file with VALUE (default 0)."""

    value: int = 0
    overwrite: bool = False


def init_file() -> Parse:
    def parse(st: Statement, ctx: Context) -> InitFile:
        no_block(st)
        value, overwrite = 0, False
        for token in st.args:
            if token.text == "overwrite":
                overwrite = True
            else:
                value = to_int(token, -(1 << 31), (1 << 31) - 1)
        return InitFile(value=value, overwrite=overwrite)

    return parse


@dataclass(frozen=True, slots=True, kw_only=True)
class RunAs:
    """``USERNAME [GROUPNAME]``: who a script runs as; no group means the user's own group."""

    username: str
    groupname: str | None = None


def run_as() -> Parse:
    def parse(st: Statement, ctx: Context) -> RunAs:
        no_block(st)
        if not st.args:
            raise BadValue(st.keyword, f"'{st.name}' needs a user name", "missing")
        warn_extra(st, ctx, 2)
        group = st.args[1].text if len(st.args) > 1 else None
        return RunAs(username=st.args[0].text, groupname=group)

    return parse


@dataclass(frozen=True, slots=True, kw_only=True)
class Fifo:
    """``notify_fifo FIFO_NAME [username [groupname]]``: a FIFO keepalived writes events to."""

    path: str
    username: str | None = None
    groupname: str | None = None


def fifo() -> Parse:
    def parse(st: Statement, ctx: Context) -> Fifo:
        no_block(st)
        if not st.args:
            raise BadValue(st.keyword, f"'{st.name}' needs a FIFO name", "missing")
        warn_extra(st, ctx, 3)
        names = [t.text for t in st.args[1:3]]
        return Fifo(
            path=st.args[0].text,
            username=names[0] if names else None,
            groupname=names[1] if len(names) > 1 else None,
        )

    return parse
