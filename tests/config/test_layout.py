"""Layout never changes meaning: re-indenting, comments, blank lines, CRLF and a BOM leave the
loaded model (its ``--dump-config`` JSON) and the diagnostics' codes exactly as they were.

A metamorphic test over the valid corpus (``corpus/*.conf``), ``ci`` profile, derandomized.
"""

import json
import random
import re
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from pykeepalived.config.dump import dump_json
from pykeepalived.config.lexer import tokenize
from pykeepalived.config.loader import LoadResult, load

CORPUS = Path(__file__).parent / "corpus"
CASES = sorted(CORPUS.glob("*.conf"))
BLANKS = [" ", "\t", "  \t ", ""]
COMMENTS = ["! note", "# note", "!", "#", "#!/bin/sh", '! "quoted { } text"']


def _load(path: Path, text: str) -> LoadResult:
    return load(str(path), text=text, config_id="lb1", environment=None)


def _summary(result: LoadResult) -> tuple[str | None, list[tuple[str, int]]]:
    dumped = dump_json(result.config) if result.config is not None else None
    return dumped, [(d.code, d.severity is d.severity.ERROR) for d in result.diagnostics]


def _may_take_a_trailing_comment(line: str) -> bool:
    """Not inside a quote left open, not a definition continued on the next line."""
    return line.count('"') % 2 == 0 and not line.rstrip().endswith("\\")


@st.composite
def relaid(draw: st.DrawFn) -> tuple[Path, str, str]:
    path = draw(st.sampled_from(CASES))
    rnd = draw(st.randoms(use_true_random=False))  # one draw, not hundreds per file
    original = path.read_text(encoding="utf-8-sig")
    out: list[str] = []
    continued = False  # inside a multi-line definition: its lines are kept as they are
    for line in original.split("\n"):
        if not continued and rnd.random() < 0.3:
            out.append(rnd.choice(BLANKS) + rnd.choice(["", *COMMENTS]))
        if continued or not line.strip():
            out.append(line)
        else:
            trail = rnd.choice(BLANKS)
            if _may_take_a_trailing_comment(line) and rnd.random() < 0.5:
                trail += " " + rnd.choice(COMMENTS)
            out.append(rnd.choice(BLANKS) + line.strip() + trail)
        continued = line.rstrip().endswith("\\")
    text = "\n".join(out)
    if rnd.random() < 0.5:
        text = re.sub(r"\r?\n", "\r\n", text)
    if rnd.random() < 0.5:
        text = "\ufeff" + text
    return path, original, text


@settings(settings.get_profile("ci"), max_examples=400)
@given(case=relaid())
def test_layout_does_not_change_the_model(case: tuple[Path, str, str]) -> None:
    path, original, text = case

    assert _summary(_load(path, text)) == _summary(_load(path, original))


def _top_level_chunks(text: str) -> list[str]:
    """The file cut into its top-level statements (with the comments before each)."""
    lines = text.split("\n")
    tokens = [tokenize(line, file="f", line=n)[0] for n, line in enumerate(lines, 1)]
    chunks: list[str] = []
    current: list[str] = []
    depth = 0
    for i, line in enumerate(lines):
        current.append(line)
        depth += sum(1 if t.is_open else -1 if t.is_close else 0 for t in tokens[i])
        upcoming = next((t for t in tokens[i + 1 :] if t), [])
        opens_next = bool(upcoming) and upcoming[0].is_open  # '{' on the next line
        if depth == 0 and tokens[i] and not opens_next:
            chunks.append("\n".join(current))
            current = []
    return [*chunks, "\n".join(current)]


# Cases whose order matters by keepalived's own rules: definitions before use, includes.
ORDERED = ("$", "include", "@")
SHUFFLABLE = [p for p in CASES if not any(m in p.read_text() for m in ORDERED)]


@settings(settings.get_profile("ci"), max_examples=150)
@given(path=st.sampled_from(SHUFFLABLE), rnd=st.randoms(use_true_random=False))
def test_block_order_does_not_change_the_verdict(path: Path, rnd: random.Random) -> None:
    """References (track_script, sync groups, virtual_server_group ...) resolve against the
    whole file: the top-level blocks in any order give the same model, up to the order of
    the blocks in it, and the same diagnostics."""
    original = path.read_text(encoding="utf-8-sig")
    chunks = _top_level_chunks(original)
    rnd.shuffle(chunks)

    before, after = _load(path, original), _load(path, "\n".join(chunks))

    assert sorted((d.code, d.message) for d in after.diagnostics) == sorted(
        (d.code, d.message) for d in before.diagnostics
    )
    assert _sorted_dump(after) == _sorted_dump(before)


def _sorted_dump(result: LoadResult) -> dict[str, object]:
    assert result.config is not None
    data = json.loads(dump_json(result.config))
    return {k: sorted(map(json.dumps, v)) if isinstance(v, list) else v for k, v in data.items()}
