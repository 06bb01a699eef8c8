"""Fuzz: mutated valid configs never make ``load()`` raise, and none takes a second.

Seeds are the seed directors' configs, configs of the corpus and a few written here to reach
includes, definitions and conditionals. Each example applies a handful of mutations (drop,
duplicate or swap tokens or lines, insert junk: braces, quotes, ``$``, ``@``, ``include``,
Unicode, NUL, very long tokens; truncate). Runs with the ``ci`` profile (derandomized) and
5,000 examples; ``FUZZ_EXAMPLES`` changes the count.

The time limit is on CPU time (this process's), so that other jobs on a shared CI machine
cannot make it flaky; a generous wall-clock limit still catches an input that blocks.
"""

import os
import re
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pykeepalived.config.loader import LoadResult, load
from pykeepalived.config.source import ReadText

ROOT = Path(__file__).parents[2]
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "5000"))
CPU_LIMIT_S = 1.0
WALL_LIMIT_S = 10.0

WRITTEN_HERE = [
    """\
$IFACE=eth0
$VIPS=192.168.1.10/24 \\
      192.168.1.11/24
global_defs {
    router_id lb1
    vrrp_version 3
}
vrrp_script chk { script "/bin/true"
    interval 2 weight -20 }
vrrp_sync_group G { group { VI_1 } }
vrrp_instance VI_1
{
    state MASTER interface $IFACE
    virtual_router_id 51
@lb1 priority 150
@^lb1 priority 100
    advert_int 0.5
    unicast_src_ip 10.0.0.1
    unicast_peer { 10.0.0.2 min_ttl 1 }
    track_script { chk weight 10 }
    virtual_ipaddress {
        $VIPS
    }
    virtual_ipaddress_excluded { 2001:db8::1/64 dev eth0 }
    notify_master "/usr/bin/notify master"
}
include inc/*.conf
""",
    """\
virtual_server_group WEB { 192.168.1.10-20 80
    fwmark 7 }
virtual_server group WEB { lvs_sched mh
    mh-port
    lvs_method TUN type gue port 6080
    persistence_timeout
    sorry_server 10.9.9.9 80
    real_server 10.0.0.1 80 { weight 2
        HTTP_GET { url { path / status_code 200-299 }
        connect_timeout 3 } }
    real_server 10.0.0.2 { MISC_CHECK { misc_path "/bin/check x" } } }
virtual_server fwmark 7 { real_server 10.0.0.3 443 { SSL_GET { url { path /h digest ab } } } }
""",
]

# Files next to the loaded config, so that mutated includes can find (and loop over) them.
INCLUDED = {
    "inc/a.conf": "vrrp_instance VI_2 {\n interface eth1\n virtual_router_id 2\n}\n",
    "inc/loop.conf": "include loop.conf\ninclude ../keepalived.conf\n",
}

JUNK = [
    "{",
    "}",
    "{ {",
    "} }",
    "{{",
    "}}",
    "{{ x }}",
    "{%",
    '"',
    '"a b',
    "\\",
    "$",
    "${",
    "${X}",
    "$X=1 \\",
    "$IFACE",
    "@",
    "@lb1",
    "@^lb1",
    "@^",
    "include",
    "include *",
    "include inc/*.conf",
    "include inc/loop.conf",
    "include ../*",
    "!",
    "#",
    "<placeholder>",
    "\x00",
    "\r",
    "\n",
    "\x0c",
    "\x85",
    "\u2028",
    "\ufeff",
    "\ud7ff",
    "é",
    "变量",
    "\U0001f600",
    "a" * 10_000,
    "9" * 500,
    "1e309",
    "nan",
    "-1",
    "0x10",
    "4294967296",
    "::",
    "::ffff:1.2.3.4",
    "1.2.3.4/99",
    "fe80::1%eth0",
    "10.0.0.1-0",
    "200-100",
    "vrrp_instance",
    "virtual_server",
    "real_server",
    "global_defs",
    "weight",
    "reverse",
    "type",
    "port",
]

_PIECES = re.compile(r"\s+|\S+")


def seeds() -> list[str]:
    files = sorted((ROOT / "examples" / "seed").glob("*.conf"))
    files += sorted((ROOT / "tests" / "config" / "corpus").glob("*.conf"))[:12]
    files += sorted((ROOT / "tests" / "config" / "broken").glob("*.conf"))[:6]
    return [f.read_text(errors="replace") for f in files] + WRITTEN_HERE


SEEDS = seeds()


@st.composite
def mutated(draw: st.DrawFn) -> str:
    pieces = _PIECES.findall(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        pieces = draw(st.sampled_from(_MUTATIONS))(draw, pieces)
    return "".join(pieces)


def _index(draw: st.DrawFn, pieces: list[str]) -> int:
    return draw(st.integers(0, max(0, len(pieces) - 1)))


def _drop(draw: st.DrawFn, pieces: list[str]) -> list[str]:
    i = _index(draw, pieces)
    return pieces[:i] + pieces[i + 1 :]


def _duplicate(draw: st.DrawFn, pieces: list[str]) -> list[str]:
    i, n = _index(draw, pieces), draw(st.integers(1, 30))
    return pieces[:i] + pieces[i : i + n] * 2 + pieces[i + n :]


def _swap(draw: st.DrawFn, pieces: list[str]) -> list[str]:
    if len(pieces) < 2:
        return pieces
    i, j = _index(draw, pieces), _index(draw, pieces)
    out = list(pieces)
    out[i], out[j] = out[j], out[i]
    return out


def _insert(draw: st.DrawFn, pieces: list[str]) -> list[str]:
    junk = draw(st.sampled_from(JUNK) | st.text(max_size=12))
    i = _index(draw, pieces)
    glue = draw(st.sampled_from(["", " ", "\n"]))
    return [*pieces[:i], glue, junk, glue, *pieces[i:]]


def _truncate(draw: st.DrawFn, pieces: list[str]) -> list[str]:
    text = "".join(pieces)
    return [text[: draw(st.integers(0, len(text)))]]


def _drop_line(draw: st.DrawFn, pieces: list[str]) -> list[str]:
    lines = "".join(pieces).split("\n")
    del lines[draw(st.integers(0, len(lines) - 1))]
    return _PIECES.findall("\n".join(lines)) or [""]


_MUTATIONS = [_drop, _duplicate, _swap, _insert, _truncate, _drop_line]


@pytest.fixture(scope="module")
def config_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fuzz")
    for name, text in INCLUDED.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    (root / "keepalived.conf").write_text(SEEDS[0])
    return root


def _confined(root: Path) -> ReadText:
    """Read only files of the fuzz directory: a mutated include must not wander the disk."""

    def read_text(path: str) -> str:
        if not Path(path).resolve().is_relative_to(root.resolve()):
            raise PermissionError(13, "outside the fuzz directory")
        return Path(path).read_text(errors="replace")

    return read_text


@pytest.mark.slow
def test_seeds_are_valid_enough() -> None:
    """The fuzz starts from configs that load (errors allowed in the broken ones)."""
    for text in SEEDS:
        assert isinstance(load("k.conf", text=text, config_id="lb1", environment=None), LoadResult)
    assert len(SEEDS) >= 10


@pytest.mark.slow
@settings(settings.get_profile("ci"), max_examples=EXAMPLES)
@given(text=mutated())
def test_load_never_raises_and_is_fast(config_dir: Path, text: str) -> None:
    start, cpu_start = time.perf_counter(), time.process_time()
    result = load(
        str(config_dir / "keepalived.conf"),
        text=text,
        config_id="lb1",
        environment=None,
        read_text=_confined(config_dir),
    )
    cpu, wall = time.process_time() - cpu_start, time.perf_counter() - start

    assert isinstance(result, LoadResult)
    for d in result.diagnostics:
        assert d.render()
        assert d.code != "internal", d.render()
        assert d.location.line >= 0
    assert result.ok is (result.config is not None and not result.errors)
    assert cpu < CPU_LIMIT_S, f"load() took {cpu:.2f} s of CPU"
    assert wall < WALL_LIMIT_S, f"load() took {wall:.2f} s"
