"""The start's import-time measures: pyroute2's package deferred, dataclass methods reused.

Both change when code is built, never what it does; these tests pin that down in fresh
interpreters (the parent pytest process already has everything imported).
"""

import marshal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from pykeepalived import dataclass_cache


def _python(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True)  # fmt: skip
    return out.stdout.strip()


def test_daemon_start_does_not_run_pyroute2_init_nor_load_the_lvs_half() -> None:
    code = (
        "import sys, pykeepalived.cli, pykeepalived.daemon, pykeepalived.runtime\n"
        "from pykeepalived import lazy_pyroute2\n"
        "mods = ('pyroute2.ndb.main', 'pykeepalived.daemon.lvs_side',\n"
        "        'pykeepalived.check.runner')\n"
        "print(lazy_pyroute2.loaded(), *(m in sys.modules for m in mods))"
    )
    assert _python(code) == "False False False False"


def test_pyroute2_public_names_still_work_after_the_deferral() -> None:
    code = (
        "import pykeepalived.kernel.netlink\n"
        "from pykeepalived import lazy_pyroute2\n"
        "before = lazy_pyroute2.loaded()\n"
        "from pyroute2 import IPRoute, NDB\n"
        "import pyroute2\n"
        "print(before, lazy_pyroute2.loaded(), IPRoute.__name__, NDB.__name__,\n"
        "      hasattr(pyroute2, 'no_such_name'), pyroute2.__version__ != 'unknown')"
    )
    assert _python(code) == "False True IPRoute NDB False True"


SOURCE = "def __create_fn__(x):\n def f(self):\n  return x + 1\n return f"


def _fn(table: dataclass_cache._Table) -> object:
    ns: dict[str, object] = {}
    table.exec(SOURCE, {}, ns)
    create = ns["__create_fn__"]
    assert callable(create)
    return create(41)


def test_table_compiles_once_saves_and_reuses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    path = tmp_path / "__pycache__" / "fns.bin"
    first = dataclass_cache._Table(str(path))
    first.load()  # missing file: empty
    assert _fn(first)(None) == 42  # type: ignore[operator]
    assert first.added == 1
    first.save()
    again = dataclass_cache._Table(str(path))
    again.load()
    assert _fn(again)(None) == 42  # type: ignore[operator]
    assert again.added == 0  # reused, not compiled


def test_table_ignores_foreign_or_broken_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    path = tmp_path / "fns.bin"
    for content in (b"garbage", marshal.dumps((2, "another interpreter", {SOURCE: b"x"}))):
        path.write_bytes(content)
        table = dataclass_cache._Table(str(path))
        table.load()
        assert table.codes == {}
        assert _fn(table)(None) == 42  # type: ignore[operator]


def test_table_writes_nothing_when_bytecode_writing_is_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    table = dataclass_cache._Table(str(tmp_path / "fns.bin"))
    _fn(table)
    table.save()
    assert not (tmp_path / "fns.bin").exists()


def test_dataclasses_built_through_the_table_behave_as_ever() -> None:
    assert dataclass_cache.stats()[0] > 0  # installed by ``import pykeepalived``

    @dataclass(frozen=True, slots=True, kw_only=True)
    class Point:
        x: int
        y: int = 2

    p = Point(x=1)
    assert (p, repr(p), hash(p) == hash(Point(x=1, y=2))) == (
        Point(x=1, y=2),
        "test_dataclasses_built_through_the_table_behave_as_ever.<locals>.Point(x=1, y=2)",
        True,
    )
    with pytest.raises(AttributeError):
        p.x = 3  # type: ignore[misc]
