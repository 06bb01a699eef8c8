"""Keywords read but not acted on are named at their line, with what will not happen; and the
list stays true: each entry names a real keyword, and none of them is used by the daemon."""

import dataclasses
import re
from pathlib import Path

import pytest

from pykeepalived.config.checks_unapplied import UNAPPLIED
from pykeepalived.config.loader import load

ROOT = Path(__file__).parents[2]
PACKAGE = ROOT / "src" / "pykeepalived"
NOT_ACTED_ON = "is read but pykeepalived does not act on it"

CONF = """\
global_defs {
    notification_email {
        ops@example.com
    }
    smtp_server 127.0.0.1
    router_id LB1
}
vrrp_instance VI_1 {
    interface eth1
    virtual_router_id 18
    priority 100
    vrf blue
    virtual_ipaddress {
        192.168.88.100/24
        192.168.88.101/24 preferred_lft 0
    }
}
"""


def unapplied(text: str) -> list[tuple[int, str]]:
    result = load("test.conf", text=text, config_id="lb1", environment=None)
    assert result.ok, [d.render() for d in result.diagnostics]
    return [(d.location.line, d.message) for d in result.warnings if NOT_ACTED_ON in d.message]


def test_each_unapplied_keyword_is_named_once_at_its_line_with_the_consequence() -> None:
    assert unapplied(CONF) == [  # the e-mail lines are acted on (alerts/): no warning
        (12, "'vrf' is read but pykeepalived does not act on it: the instance is not bound "
             "to the VRF"),
    ]  # fmt: skip


@pytest.mark.parametrize("conf", sorted((ROOT / "examples" / "seed").glob("*.conf")), ids=str)
def test_the_seed_configs_use_nothing_unapplied(conf: Path) -> None:
    assert unapplied(conf.read_text()) == []


@pytest.mark.parametrize("entry", UNAPPLIED, ids=lambda e: f"{e.owner.__name__}.{e.keywords[0]}")
def test_every_entry_names_keywords_of_its_block(entry: object) -> None:
    owner, keywords = entry.owner, entry.keywords  # type: ignore[attr-defined]
    names = {f.name for f in dataclasses.fields(owner)}
    assert set(keywords) <= names


def test_no_listed_keyword_is_used_by_the_daemon() -> None:
    """When a keyword starts working, its entry must go: the daemon reading ``.keyword`` (of
    whatever object) outside the config package means the entry is stale."""
    code = "\n".join(
        p.read_text() for p in PACKAGE.rglob("*.py") if "config" not in p.relative_to(PACKAGE).parts
    )
    used = sorted(
        f"{entry.owner.__name__}.{keyword}"
        for entry in UNAPPLIED
        for keyword in entry.keywords
        if re.search(rf"\.{keyword}\b", code)
    )
    assert used == []
