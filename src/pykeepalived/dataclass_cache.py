"""Compiled dataclass methods kept between runs, as ``.pyc`` files keep compiled modules.

Why: ``@dataclass`` writes each class's ``__init__``, ``__repr__``, ``__eq__``, ``__hash__``,
``__setattr__``... as source text and compiles it with ``exec`` every time the class is
created. pykeepalived's start creates ~150 dataclasses (the config model, VRRP events, the
state views): ~800 compilations, 75-85 ms of its ~200 ms of imports on a real CPU, over a
second under the IPVS VM's emulation, all before VRRP can start. The text is a pure function
of the class (field names, flags), so its code object can be reused: ``dataclasses``' own
``exec`` is replaced by one that looks the text up in a table loaded from
``__pycache__/dataclass-fns.<cache tag>.bin`` beside this module and compiles only what is
missing. The functions are the same (same text, same compiler, executed in the same globals and
namespace); only the compilation is skipped. The table is written back at exit when it grew,
atomically, unless bytecode writing is off (``PYTHONDONTWRITEBYTECODE``) or the directory is
read-only; an unreadable or foreign table is ignored.
"""

import atexit
import builtins
import contextlib
import marshal
import os
import sys
from types import CodeType
from typing import Any

MAX_ENTRIES = 5000  # a bound, should a long-lived process create classes in a loop
_FORMAT = 2
_PATH = os.path.join(
    os.path.dirname(os.path.abspath(__file__)),
    "__pycache__",
    f"dataclass-fns.{sys.implementation.cache_tag}.bin",
)


class _Table:
    def __init__(self, path: str) -> None:
        self.path = path
        # source text -> its code, marshalled until first used (the table holds the LVS
        # half's and the API's classes too: unmarshalling all of it up front costs more)
        self.codes: dict[str, CodeType | bytes] = {}
        self.added = 0

    def load(self) -> None:
        with contextlib.suppress(OSError, ValueError, EOFError, TypeError):
            with open(self.path, "rb") as f:
                data = marshal.load(f)
            if isinstance(data, tuple) and len(data) == 3 and data[:2] == (_FORMAT, _tag()):
                self.codes = {k: v for k, v in data[2].items() if isinstance(v, bytes)}

    def exec(self, source: Any, globals_: Any = None, locals_: Any = None) -> None:
        if isinstance(source, str):
            code = self.codes.get(source)
            if isinstance(code, bytes):
                code = self.codes[source] = marshal.loads(code)
            if code is None:
                code = compile(source, "<string>", "exec")
                if len(self.codes) < MAX_ENTRIES:
                    self.codes[source] = code
                    self.added += 1
            source = code
        builtins.exec(source, globals_, locals_)

    def save(self) -> None:
        if not self.added or sys.dont_write_bytecode:
            return
        folder = os.path.dirname(self.path)
        with contextlib.suppress(OSError, ValueError):
            os.makedirs(folder, exist_ok=True)
            tmp = f"{self.path}.{os.getpid()}.tmp"  # not tempfile: its imports cost more than this
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_EXCL, 0o644)
            try:
                with os.fdopen(fd, "wb") as f:
                    codes = {k: v if isinstance(v, bytes) else marshal.dumps(v)
                             for k, v in self.codes.items()}  # fmt: skip
                    marshal.dump((_FORMAT, _tag(), codes), f)
                os.replace(tmp, self.path)
                self.added = 0
            finally:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)


def _tag() -> str:
    """Code objects are only valid for the interpreter that made them (pyc's magic number)."""
    import importlib.util

    return importlib.util.MAGIC_NUMBER.hex()


_table: _Table | None = None


def install(path: str = _PATH) -> None:
    """Route ``dataclasses``' compilation through the table (once per process)."""
    global _table
    import dataclasses

    if _table is not None:
        return
    _table = _Table(path)
    _table.load()
    dataclasses.exec = _table.exec  # type: ignore[attr-defined]  # its module-level name
    atexit.register(_table.save)


def stats() -> tuple[int, int]:
    """(entries known, entries compiled by this process): for tests and the start bench."""
    return (len(_table.codes), _table.added) if _table is not None else (0, 0)
