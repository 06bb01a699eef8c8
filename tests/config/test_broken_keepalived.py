"""The broken corpus against keepalived 2.2.7's own ``keepalived -t``: same verdict, same line.

keepalived must reject what we reject (and accept what we only warn about), and where it names
a line, it names ours; every difference is listed below with its reason. Skipped when keepalived
is not installed.
"""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from test_broken import BROKEN, CASES, expectations

KEEPALIVED = shutil.which("keepalived") or "/usr/sbin/keepalived"
pytestmark = pytest.mark.skipif(
    not os.access(KEEPALIVED, os.X_OK), reason="keepalived is not installed"
)

# keepalived -t accepts these without a word; pykeepalived calls them errors.
STRICTER = {
    "duplicate_virtual_server": "keepalived keeps both services, silently",
    "ipv6_with_vrrp2": "keepalived runs VRRPv2 over IPv6 outside strict mode (RFC 5798: v3)",
    "virtual_server_group_undefined": "keepalived drops the service, silently",
}
# keepalived -t fails on warnings too; pykeepalived -t passes with warnings.
WARNINGS_ONLY = {"warning_auth_pass_long", "warning_nat_mask", "include_no_match"}
# Both report it; keepalived names another line.
OTHER_LINE = {
    "extra_close_brace_early": "keepalived: the first keyword left outside; we: the early '}'",
    "missing_close_brace": "keepalived: the next block; we: the '{' never closed",
    "missing_close_brace_nested": "keepalived: the next block; we: the '{' never closed",
    "real_server_family": "keepalived: the end of the real_server block; we: its address",
    "sorry_server_family": "keepalived: the end of the virtual_server block; we: sorry_server",
}
_LINE = re.compile(r"\((\S+): Line (\d+)\)")


def keepalived_t(path: Path) -> tuple[int, str]:
    proc = subprocess.run(
        [KEEPALIVED, "-t", "-l", "-i", "lb1", "-f", path.name],
        cwd=BROKEN,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return proc.returncode, proc.stdout + proc.stderr


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_same_verdict_as_keepalived(path: Path) -> None:
    ours_fails = any(e.severity == "error" for e in expectations(path))

    code, output = keepalived_t(path)

    if path.stem in STRICTER:
        assert (code, ours_fails) == (0, True), output
    elif path.stem in WARNINGS_ONLY:
        assert not ours_fails
    else:
        assert (code != 0) is ours_fails, output


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_same_line_as_keepalived(path: Path) -> None:
    first = expectations(path)[0]

    _, output = keepalived_t(path)

    found = _LINE.search(output)
    if found is None or path.stem in OTHER_LINE:
        pytest.skip("keepalived names no line" if found is None else OTHER_LINE[path.stem])
    assert Path(found.group(1)).name == Path(first.file).name
    assert int(found.group(2)) == first.line, output
