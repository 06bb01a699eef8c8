"""The config corpus: realistic keepalived.conf files load cleanly and dump to their goldens.

Every case under ``corpus/`` (``NAME.conf``, or ``NAME/keepalived.conf`` when it includes other
files) is loaded with config id ``lb1`` and no machine checks, so the result does not depend on
this machine. It must load with no error and exactly the warnings pinned in ``EXPECTED_WARNINGS``
(only cases about deprecated spellings have any), and its ``--dump-config`` JSON must equal
``golden/NAME.json``. Regenerate the goldens after a deliberate model change with
``UPDATE_GOLDEN=1 pytest tests/config/test_corpus.py`` and review the diff by eye.
Every case was also checked with keepalived 2.2.7 (``keepalived -t -i lb1 -f FILE``); see
``corpus/README.md`` for what it reports about them.
"""

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from pykeepalived.config.dump import dump_json
from pykeepalived.config.loader import LoadResult, load
from pykeepalived.config.model import KeepalivedConfig

HERE = Path(__file__).parent
CORPUS = HERE / "corpus"
GOLDEN = HERE / "golden"
CONFIG_ID = "lb1"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"
UNAPPLIED = "is read but pykeepalived does not act on it"

# case -> [(file relative to the case, line, code, message)]: deprecations keepalived also reports.
EXPECTED_WARNINGS: dict[str, list[tuple[str, int, str, str]]] = {
    "bfd_check": [
        (
            "bfd_check.conf",
            42,
            "unsupported",
            "BFD_CHECK needs keepalived's BFD process, which pykeepalived does not have: this "
            "checker is ignored; real_server 10.0.4.21 has no other checker: it is always "
            "considered up",
        ),
    ],
    "linkbeat_updown": [
        (
            "linkbeat_updown.conf",
            16,
            "deprecated",
            "'linkbeat_use_polling' in a vrrp_instance is deprecated; "
            "list the interface in a linkbeat_interfaces block",
        ),
    ],
    "old_keywords": [
        (
            "old_keywords.conf",
            15,
            "deprecated",
            "'lvs_sync_daemon_interface' in a vrrp_instance is deprecated; use "
            "'lvs_sync_daemon <INTERFACE> <VRRP_INSTANCE>' in global_defs",
        ),
        (
            "old_keywords.conf",
            32,
            "deprecated",
            "'nat_mask' is deprecated and ignored (IPVS has no such setting)",
        ),
        (
            "old_keywords.conf",
            44,
            "deprecated",
            "'nb_get_retry' is deprecated, use 'retry' instead",
        ),
    ],
    "sync_group_conntrackd": [
        (
            "sync_group_conntrackd.conf",
            9,
            "deprecated",
            "'global_tracking' is deprecated, use 'sync_group_tracking_weight' instead",
        ),
    ],
}


def _cases() -> list[str]:
    names = []
    for entry in sorted(CORPUS.iterdir()):
        if entry.is_dir() and (entry / "keepalived.conf").exists():
            names.append(entry.name)
        elif entry.suffix == ".conf":
            names.append(entry.stem)
    return names


CASES = _cases()


def _path(case: str) -> Path:
    folder = CORPUS / case
    return folder / "keepalived.conf" if folder.is_dir() else CORPUS / f"{case}.conf"


def _load(case: str) -> LoadResult:
    return load(str(_path(case)), config_id=CONFIG_ID, environment=None)


def _relative(case: str, file: str) -> str:
    base = CORPUS / case if (CORPUS / case).is_dir() else CORPUS
    return os.path.relpath(file, base)


def test_corpus_is_big_enough() -> None:
    assert len(CASES) >= 45


@pytest.mark.parametrize("case", CASES)
def test_corpus_case_loads_and_matches_golden(case: str) -> None:
    result = _load(case)

    assert [d.render() for d in result.errors] == []
    warnings = [
        (_relative(case, d.location.file), d.location.line, d.code, d.message)
        for d in result.warnings
        if UNAPPLIED not in d.message  # pinned by test_unapplied: the list shrinks over time
    ]
    assert warnings == EXPECTED_WARNINGS.get(case, [])
    assert result.config is not None
    dumped = dump_json(result.config)
    golden = GOLDEN / f"{case}.json"
    if UPDATE:
        GOLDEN.mkdir(exist_ok=True)
        golden.write_text(dumped, encoding="utf-8")
    assert golden.exists(), f"no golden for {case}: run with UPDATE_GOLDEN=1 and review it"
    assert json.loads(dumped) == json.loads(golden.read_text(encoding="utf-8"))


def test_every_golden_has_a_case() -> None:
    assert sorted(p.stem for p in GOLDEN.glob("*.json")) == sorted(CASES)


def _configs() -> Iterator[KeepalivedConfig]:
    for case in CASES:
        config = _load(case).config
        assert config is not None
        yield config


def test_corpus_covers_every_block_and_checker() -> None:
    seen: set[str] = set()
    for config in _configs():
        seen |= {name for name in config.__dataclass_fields__ if getattr(config, name)}
        for vs in config.virtual_server:
            seen.add(f"lvs_method {vs.lvs_method.kind}")
            seen.add(f"lvs_sched {vs.lvs_sched}")
            for rs in vs.real_server:
                seen |= {type(c).KIND for c in rs.checkers}
                if rs.lvs_method is not None and rs.lvs_method.tunnel_type:
                    seen.add(f"tunnel {rs.lvs_method.tunnel_type}")
        for inst in config.vrrp_instance:
            seen.add(f"IPv{inst.family}")
            seen |= {"unicast_peer"} if inst.unicast_peer else set()
            seen |= {"use_vmac"} if inst.use_vmac is not None else set()
    wanted = {
        "global_defs",
        "static_ipaddress",
        "static_routes",
        "static_rules",
        "vrrp_script",
        "vrrp_track_file",
        "vrrp_sync_group",
        "vrrp_instance",
        "virtual_server_group",
        "virtual_server",
        "SSL",
        "vrrp_track_process",
        "bfd_instance",
        "garp_group",
        "track_group",
        "IPv4",
        "IPv6",
        "unicast_peer",
        "use_vmac",
        *(f"lvs_method {m}" for m in ("NAT", "DR", "TUN")),
        *(f"tunnel {t}" for t in ("ipip", "gue", "gre")),
        *(f"lvs_sched {s}" for s in "rr wrr lc wlc lblc lblcr dh sh sed nq fo ovf mh twos".split()),
        "HTTP_GET",
        "SSL_GET",
        "TCP_CHECK",
        "SMTP_CHECK",
        "DNS_CHECK",
        "MISC_CHECK",
        "PING_CHECK",
        "UDP_CHECK",
        "FILE_CHECK",
        "BFD_CHECK",
    }
    assert wanted - seen == set()


def test_crlf_and_bom_cases_really_have_them() -> None:
    assert b"\r\n" in (CORPUS / "crlf.conf").read_bytes()
    assert (CORPUS / "bom.conf").read_bytes().startswith(b"\xef\xbb\xbf")
    both = (CORPUS / "bom_crlf.conf").read_bytes()
    assert both.startswith(b"\xef\xbb\xbf")
    assert b"\r\n" in both
