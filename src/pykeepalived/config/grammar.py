"""Grammar: the declarative keyword table and the engine that applies it to the tree.

Rules: the model *is* the grammar. Each model field is named after its keepalived keyword and
declared with ``kw(default, parse, ...)``, so the man page, the code and the JSON dump grep alike
and a default lives in exactly one place. This engine walks a block's statements, finds each
keyword's spec, converts its arguments, collects every problem as a diagnostic and builds the
frozen dataclass. It knows no keyword itself.
"""

import dataclasses
import difflib
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import Any, TypeVar, cast

from pykeepalived.config.diagnostics import Diagnostics, Location
from pykeepalived.config.lexer import Token
from pykeepalived.config.tree import Statement

T = TypeVar("T")


class BadValue(Exception):
    """A keyword's arguments are wrong; caught by the engine and turned into a diagnostic."""

    def __init__(self, where: Token | Location, message: str, code: str = "value") -> None:
        super().__init__(message)
        self.location = where.location if isinstance(where, Token) else where
        self.message = message
        self.code = code
        self.already_reported = isinstance(where, Token) and where.template


# What a converter raises when it has a bug rather than a bad value to report. ``load`` must
# not raise on any input, so these become an "internal" error diagnostic (``-t`` fails, the
# daemon refuses the config) naming the keyword; the fuzz test asserts there are none.
CONVERTER_BUGS = (ValueError, TypeError, IndexError, KeyError, AttributeError, OverflowError)


def report_bug(st: Statement, exc: Exception, ctx: "Context") -> None:
    message = f"internal error reading '{st.name}': {type(exc).__name__}: {exc}"
    ctx.diags.error(st.location, message + " (a pykeepalived bug: please report it)", "internal")


_DEFINITION_USE = re.compile(r"\$[A-Za-z_][A-Za-z0-9_]*")


def undefined_hint(st: Statement) -> str:
    """A bad value that reads ``$NAME`` is most likely a definition missing (keepalived, too,
    leaves an undefined ``$NAME`` as it is)."""
    for token in (st.keyword, *st.args):
        if token.text.startswith("$") and _DEFINITION_USE.fullmatch(token.text):
            return f" (is {token.text} defined before this line?)"
    return ""


@dataclass(slots=True)
class Context:
    """What converters may use: the diagnostics sink (for warnings) and the config id; and for
    the engine, which blocks accept each keyword (to say where a misplaced one belongs)."""

    diags: Diagnostics
    config_id: str = ""
    homes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


Parse = Callable[[Statement, Context], Any]


class SetFields(dict[str, Any]):
    """Returned by a converter whose one keyword sets several fields (``weight -10 reverse``)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class KwSpec:
    parse: Parse
    repeat: bool = False
    max_args: int | None = None
    aliases: tuple[str, ...] = ()
    deprecated: tuple[str, ...] = ()


class Places(Mapping[str, Location]):
    """keyword -> where its value was written; keeps the tokens and builds each ``Location`` only
    when asked (most are never asked for, and building them all was a tenth of a large load)."""

    __slots__ = ("_tokens",)

    def __init__(self, tokens: dict[str, Token]) -> None:
        self._tokens = tokens

    def __getitem__(self, key: str) -> Location:
        return self._tokens[key].location

    def __contains__(self, key: object) -> bool:
        return key in self._tokens

    def __iter__(self) -> Iterator[str]:
        return iter(self._tokens)

    def __len__(self) -> int:
        return len(self._tokens)

    def __repr__(self) -> str:
        return f"Places({sorted(self._tokens)})"


@dataclass(frozen=True, slots=True)
class Where:
    """Where a block and each of its keywords were written; never part of equality or dumps.

    ``block`` is the block's keyword; ``keywords`` maps each keyword given (even with a bad
    value) and each header field (``name``, ``ip``...) to its value's token, or to the keyword
    when it has no value, so a check's caret lands under the value.
    """

    block: Location | None = None
    keywords: Mapping[str, Location] = field(default_factory=dict)

    def of(self, keyword: str) -> Location | None:
        return self.keywords.get(keyword, self.block)


NOWHERE = Where()


def kw(
    default: Any,
    parse: Parse,
    *,
    repeat: bool = False,
    max_args: int | None = None,
    aliases: Sequence[str] = (),
    deprecated: Sequence[str] = (),
) -> Any:
    """Declare a model field as keyword ``<field name>`` (and ``aliases``).

    ``deprecated`` aliases are accepted with a warning; ``repeat`` collects every occurrence into
    a tuple; ``max_args`` is how many arguments the keyword takes: the engine ignores the rest
    of the line with a warning, as keepalived does with ``auth_type PASS auth_pass 1111``.
    """
    spec = KwSpec(
        parse=parse,
        repeat=repeat,
        max_args=max_args,
        aliases=tuple(aliases) + tuple(deprecated),
        deprecated=tuple(deprecated),
    )
    if isinstance(default, list | dict | set):
        raise TypeError("model defaults must be immutable")
    return field(default=default, metadata={"kw": spec})


def where_field() -> Any:
    return field(default=NOWHERE, compare=False, repr=False, metadata={"where": True})


@dataclass(frozen=True, slots=True)
class _Entry:
    field: str
    spec: KwSpec
    deprecated: bool


@cache
def keyword_table(cls: Any) -> Mapping[str, _Entry]:
    table: dict[str, _Entry] = {}
    for f in dataclasses.fields(cls):
        spec = f.metadata.get("kw")
        if spec is None:
            continue
        table[f.name] = _Entry(f.name, spec, False)
        for alias in spec.aliases:
            table[alias] = _Entry(f.name, spec, alias in spec.deprecated)
    return table


@cache
def _has_where(cls: Any) -> bool:
    return any(f.metadata.get("where") for f in dataclasses.fields(cls))


def ignored_keywords(cls: type) -> Mapping[str, str]:
    """Keywords a block accepts and ignores, with the warning to give (``nat_mask``...)."""
    return getattr(cls, "IGNORED_KEYWORDS", {})


def parse_block(
    cls: type[T],
    statements: Sequence[Statement],
    ctx: Context,
    *,
    header: Mapping[str, Any] | None = None,
    header_places: Mapping[str, Token] | None = None,
    location: Location | None = None,
) -> T | None:
    """Build ``cls`` from a block's statements; ``None`` if it cannot be built at all.

    ``header`` holds the fields the block's own line gave (``vrrp_instance NAME``) and
    ``header_places`` where each was written, so that checks can point at them.
    """
    table = keyword_table(cast(Any, cls))
    values: dict[str, Any] = dict(header or {})
    places: dict[str, Token] = dict(header_places or {})
    for st in _drop_extra(statements, table, ctx):
        _apply(cls, st, table, values, places, ctx)
    for name, value in list(values.items()):
        if isinstance(value, list):
            values[name] = tuple(value)
    if _has_where(cast(Any, cls)):
        values["where"] = Where(block=location, keywords=Places(places))
    try:
        return cls(**values)
    except (ValueError, TypeError) as exc:
        ctx.diags.error(location or Location(file="?", line=0), str(exc), "invalid")
        return None


def _apply(
    cls: type,
    st: Statement,
    table: Mapping[str, _Entry],
    values: dict[str, Any],
    places: dict[str, Token],
    ctx: Context,
) -> None:
    entry = table.get(st.name)
    if entry is None:
        _unknown(cls, st, table, values, ctx)
        return
    if entry.deprecated:
        ctx.diags.warning(
            st.location, f"'{st.name}' is deprecated, use '{entry.field}' instead", "deprecated"
        )
    # Where the keyword's value was written (the caret of a later cross-keyword check goes
    # there). A keyword given with a bad or unrendered value still counts as given, so that
    # "X is required" does not follow "bad value for X".
    where = st.args[0] if st.args else st.keyword
    if st.block is None and any(t.template for t in st.args):
        places.setdefault(entry.field, where)
        return
    try:
        value = entry.spec.parse(st, ctx)
    except BadValue as bad:
        if not bad.already_reported:
            ctx.diags.error(bad.location, bad.message + undefined_hint(st), bad.code)
        places.setdefault(entry.field, where)
        return
    except CONVERTER_BUGS as exc:
        report_bug(st, exc, ctx)
        places.setdefault(entry.field, where)
        return
    if isinstance(value, SetFields):
        values.update(value)
    elif entry.spec.repeat:
        values.setdefault(entry.field, []).append(value)
    else:
        if entry.field in places:
            first = places[entry.field].line
            message = f"'{st.name}' given again (first at line {first}); last one wins"
            ctx.diags.warning(st.location, message, "duplicate")
        values[entry.field] = value
    places.setdefault(entry.field, where)


def _unknown(
    cls: type,
    st: Statement,
    table: Mapping[str, _Entry],
    values: dict[str, Any],
    ctx: Context,
) -> None:
    if st.name in getattr(cls, "LOOSE_KEYWORDS", ()):
        values.setdefault("other", []).append((st.name, tuple(t.text for t in st.args)))
        return
    ignored = ignored_keywords(cls)
    if st.name in ignored:
        ctx.diags.warning(st.location, ignored[st.name], "deprecated")
        return
    if st.keyword.template or st.keyword.is_open:
        return  # already reported by the lexer / the tree
    block = getattr(cls, "BLOCK_NAME", cls.__name__)
    homes = ctx.homes.get(st.name)
    if homes:  # a real keyword in the wrong place, more likely than a misspelling
        where = " or ".join(homes[:3]) + (" ..." if len(homes) > 3 else "")
        suggestion = f"; it belongs in {where}"
    else:
        hint = _suggest(cls, st.name)
        suggestion = f"; did you mean '{hint}'?" if hint else ""
    ctx.diags.error(st.location, f"unknown keyword '{st.name}' in {block}{suggestion}", "unknown")


@lru_cache(maxsize=4096)
def _suggest(cls: type, name: str) -> str | None:
    """The closest keyword of ``cls`` to a misspelt ``name`` (cached: junk repeats)."""
    if len(name) > 64:
        return None
    options = list(keyword_table(cast(Any, cls))) + list(ignored_keywords(cls))
    hint = difflib.get_close_matches(name, options, n=1)
    return hint[0] if hint else None


def _drop_extra(
    statements: Sequence[Statement], table: Mapping[str, _Entry], ctx: Context
) -> list[Statement]:
    """Cut each statement to the arguments its keyword takes (``max_args``), warning about the
    rest: keepalived 2.2.7 reads one keyword per line, so ``auth_type PASS auth_pass 1111``
    sets the type and never the password (its ``--dump-conf`` shows no password)."""
    out: list[Statement] = []
    for st in statements:
        entry = table.get(st.name)
        limit = None if entry is None else entry.spec.max_args
        if st.block is None and limit is not None and len(st.args) > limit:
            extra_arguments(st, limit, ctx)
            st = Statement(keyword=st.keyword, args=st.args[:limit])
        out.append(st)
    return out


def extra_arguments(st: Statement, used: int, ctx: Context) -> None:
    """Warn at the first argument of ``st`` past the ``used`` ones, which is ignored as keepalived
    ignores it; a keyword there was meant as a statement of its own, so the warning says so."""
    if len(st.args) <= used:
        return
    extra = st.args[used]
    if not extra.quoted and extra.text in ctx.homes:
        message = (
            f"'{extra.text}' is ignored: keepalived reads one keyword per line and ignores the"
            f" rest of the line after '{st.name}'; put '{extra.text}' on a line of its own"
        )
    else:
        message = f"extra arguments to '{st.name}' ignored"
    ctx.diags.warning(extra.location, message, "extra")
