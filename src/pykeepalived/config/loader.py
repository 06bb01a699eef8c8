"""Loader: the whole pipeline from a file name to a model plus diagnostics.

Rules: ``load`` never raises for anything a config file can contain; it returns a
``LoadResult`` whose diagnostics say what is wrong. Callers refuse to run on a result with
errors (``result.ok`` is false), so a bad config is never half-applied.
"""

import dataclasses
import gc
import socket
import typing
from dataclasses import dataclass

from pykeepalived.config.checks import run_checks
from pykeepalived.config.diagnostics import Diagnostic, Diagnostics, Severity
from pykeepalived.config.environment import Environment, MachineEnvironment
from pykeepalived.config.grammar import Context, keyword_table, parse_block
from pykeepalived.config.model import KeepalivedConfig
from pykeepalived.config.source import ReadText, load_lines, read_text_file
from pykeepalived.config.tree import Hints, build_tree


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadResult:
    config: KeepalivedConfig | None
    diagnostics: tuple[Diagnostic, ...]

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.is_error)

    @property
    def warnings(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if not d.is_error)

    @property
    def ok(self) -> bool:
        return self.config is not None and not self.errors


# Blocks keepalived accepts only at the top level: one of these inside a block means a '}' is
# missing before it (see ``build_tree``).
_TOP_LEVEL_BLOCKS = frozenset(
    {
        "global_defs",
        "vrrp_script",
        "vrrp_track_file",
        "vrrp_sync_group",
        "vrrp_instance",
        "virtual_server_group",
        "virtual_server",
        "static_ipaddress",
        "static_routes",
        "static_rules",
        "vrrp_track_process",
        "bfd_instance",
        "garp_group",
        "linkbeat_interfaces",
    }
)


def _block_classes(cls: type, seen: dict[type, None]) -> dict[type, None]:
    """``cls`` and every model dataclass reachable from its fields' types, in order."""
    if cls in seen:
        return seen
    seen[cls] = None
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        for kind in _flatten(hints.get(f.name)):
            if isinstance(kind, type) and dataclasses.is_dataclass(kind):
                _block_classes(kind, seen)
    return seen


def _flatten(hint: object) -> list[object]:
    args = typing.get_args(hint)
    return [hint] if not args else [t for arg in args for t in _flatten(arg)]


def _keyword_homes() -> dict[str, tuple[str, ...]]:
    """keyword -> the blocks that accept it, from the model classes (for "it belongs in")."""
    homes: dict[str, list[str]] = {}
    for cls in _block_classes(KeepalivedConfig, {}):
        block = getattr(cls, "BLOCK_NAME", None)
        for keyword in keyword_table(cls):
            places = homes.setdefault(keyword, [])
            if block and block not in places:
                places.append(block)
    # Blocks people write (virtual_server, real_server) before the checkers (HTTP_GET, ...).
    return {k: tuple(sorted(v, key=lambda b: b[:1].isupper())) for k, v in homes.items()}


KEYWORD_HOMES = _keyword_homes()
HINTS = Hints(
    top_level_blocks=_TOP_LEVEL_BLOCKS,
    top_level=frozenset(keyword_table(KeepalivedConfig)),
    nested=frozenset(k for k, v in KEYWORD_HOMES.items() if v != (KeepalivedConfig.BLOCK_NAME,)),
)


def default_config_id() -> str:
    """keepalived's default config id: the host name up to the first dot."""
    return socket.gethostname().split(".", 1)[0]


def load(
    path: str,
    *,
    text: str | None = None,
    config_id: str | None = None,
    environment: Environment | None = None,
    check_environment: bool = False,
    read_text: ReadText = read_text_file,
) -> LoadResult:
    """Load ``path`` (or ``text`` standing for it).

    ``environment`` answers machine questions (does interface X exist?); ``None`` skips those
    checks. ``check_environment`` turns machine findings from warnings into errors.
    """
    # The pipeline builds a few hundred thousand small acyclic objects; the cyclic garbage
    # collector would walk them again and again for nothing (a quarter of the load time
    # of a 10,000-line config), so it is paused for the duration.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _load(path, text, config_id, environment, check_environment, read_text)
    finally:
        if was_enabled:
            gc.enable()


def _load(
    path: str,
    text: str | None,
    config_id: str | None,
    environment: Environment | None,
    check_environment: bool,
    read_text: ReadText,
) -> LoadResult:
    diags = Diagnostics()
    cid = default_config_id() if config_id is None else config_id
    lines = load_lines(path, config_id=cid, diags=diags, read_text=read_text, text=text)
    tree = build_tree(lines, diags, HINTS)
    ctx = Context(diags=diags, config_id=cid, homes=KEYWORD_HOMES)
    config = parse_block(KeepalivedConfig, tree, ctx)
    if config is not None:
        run_checks(config, diags, environment)
    items = list(diags)
    if check_environment:
        items = [_promote(d) for d in items]
    return LoadResult(config=config, diagnostics=tuple(items))


def load_machine(path: str, *, config_id: str | None = None, strict: bool = False) -> LoadResult:
    """``load`` with this machine as the environment (what the CLI and daemon use)."""
    return load(
        path, config_id=config_id, environment=MachineEnvironment(), check_environment=strict
    )


def _promote(d: Diagnostic) -> Diagnostic:
    if d.code != "env" or d.is_error:
        return d
    return Diagnostic(severity=Severity.ERROR, location=d.location, message=d.message, code=d.code)
