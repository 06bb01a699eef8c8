"""Each broken config gives exactly the diagnostics its ``# expect:`` lines list, at the exact
file:line:column, rendered keepalived-style with a caret under the offending token; the CLI
exits 1 on errors and 0 on warnings only.

A ``# expect:`` line reads ``SEVERITY [FILE:]LINE:COLUMN MESSAGE-FRAGMENT``; FILE (relative to
``broken/``) is given when the diagnostic is about an included file. All configs load with the
config id ``lb1`` (for ``@lb1`` conditional lines) and without machine checks.
"""

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from pykeepalived.cli import main
from pykeepalived.config.diagnostics import Diagnostic
from pykeepalived.config.loader import load

BROKEN = Path(__file__).parent / "broken"
CASES = sorted(BROKEN.glob("*.conf"))
_EXPECT = re.compile(r"^# expect: (error|warning) (?:(\S+\.conf):)?(\d+):(\d+) (.+)$")


@dataclass(frozen=True)
class Expected:
    severity: str
    file: str
    line: int
    column: int
    fragment: str


def expectations(path: Path) -> list[Expected]:
    out = []
    for line in path.read_text().splitlines():
        m = _EXPECT.match(line)
        if m:
            severity, file, number, column, fragment = m.groups()
            out.append(Expected(severity, file or path.name, int(number), int(column), fragment))
    return out


def where(d: Diagnostic) -> tuple[str, str, int, int]:
    file = os.path.relpath(d.location.file, BROKEN)
    return (d.severity.value, file, d.location.line, d.location.column)


def test_the_corpus_is_large_enough() -> None:
    assert len(CASES) >= 35
    assert all(expectations(path) for path in CASES)


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_exact_diagnostics(path: Path) -> None:
    expected = expectations(path)
    result = load(str(path), config_id="lb1", environment=None)

    got = list(result.diagnostics)
    assert [where(d) for d in got] == [(e.severity, e.file, e.line, e.column) for e in expected]
    for d, e in zip(got, expected, strict=True):
        assert e.fragment in d.message
    assert result.ok is not any(e.severity == "error" for e in expected)


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_rendered_with_caret(path: Path) -> None:
    result = load(str(path), config_id="lb1", environment=None)

    for d in result.diagnostics:
        loc = d.location
        head, source, caret = d.render().split("\n")
        assert head == f"({loc.file}: Line {loc.line}) {d.severity.value}: {d.message}"
        file_line = Path(loc.file).read_text().splitlines()[loc.line - 1]
        if "$" not in file_line:  # a line with a definition shows its expanded text
            assert source == "    " + file_line
        assert caret == "    " + " " * (loc.column - 1) + "^" + "~" * (loc.length - 1)
        token = source[4 + loc.column - 1 :][: loc.length]
        assert token, "the caret covers something"
        assert token.strip() == token, "the caret covers one whole token"


def test_caret_is_under_the_bad_value() -> None:
    result = load(str(BROKEN / "priority_256.conf"), environment=None)

    (d,) = result.diagnostics
    assert d.render().splitlines()[1:] == ["        priority 256", "                 ^~~"]


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_cli_exit_code(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    has_errors = any(e.severity == "error" for e in expectations(path))

    code = main(["-t", "-f", str(path), "-i", "lb1"])

    assert code == (1 if has_errors else 0)
    err = capsys.readouterr().err
    assert ("config check FAILED" if has_errors else "config check OK") in err


def test_cli_as_a_subprocess() -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    bad = BROKEN / "unknown_keyword.conf"

    proc = subprocess.run(
        [sys.executable, "-m", "pykeepalived", "-t", "-f", str(bad)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )

    assert proc.returncode == 1
    assert f"({bad}: Line 6) error: unknown keyword 'priorty'" in proc.stderr
    assert "did you mean 'priority'?" in proc.stderr
    assert "\n        priorty 100\n        ^~~~~~~\n" in proc.stderr
    ok = subprocess.run(
        [sys.executable, "-m", "pykeepalived", "-t", "-f", str(BROKEN / "include_no_match.conf")],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    assert "matches no file" in ok.stderr


def test_cli_on_a_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.conf"

    assert main(["-t", "-f", str(missing)]) == 1
    err = capsys.readouterr().err
    assert f"({missing}: Line 0) error: cannot read config file" in err


def test_cli_on_a_binary_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    binary = tmp_path / "bin.conf"
    binary.write_bytes(bytes(range(256)) * 64)

    assert main(["-t", "-f", str(binary)]) == 1
    assert "config check FAILED" in capsys.readouterr().err
