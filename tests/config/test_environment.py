"""The machine environment answers hostile names without raising (``-t`` must never crash)."""

from pathlib import Path

import pytest

from pykeepalived.config.environment import MachineEnvironment
from pykeepalived.config.loader import load_machine

HOSTILE = ["", "a\x00b", "x" * 5000, "../..", "/", ".", "a" * 70 + ".example", "é" * 300]


@pytest.mark.parametrize("name", HOSTILE)
def test_has_interface_never_raises(name: str) -> None:
    assert MachineEnvironment().has_interface(name) is False


@pytest.mark.parametrize("name", ["a\x00b", "a" * 70 + ".example", "x" * 300, "", ".."])
def test_resolves_never_raises(name: str) -> None:
    assert MachineEnvironment().resolves(name) is False


@pytest.mark.parametrize("command", ["/bin/x\x00y", "/" + "x" * 5000, '"unbalanced', " "])
def test_script_problem_never_raises(command: str) -> None:
    assert MachineEnvironment().script_problem(command, secure=True)


def test_machine_checks_on_hostile_values_are_warnings(tmp_path: Path) -> None:
    path = tmp_path / "k.conf"
    path.write_text(
        "global_defs {\n    smtp_server " + "a" * 70 + ".example\n}\n"
        "vrrp_instance VI_1 {\n    interface ../../x\n    virtual_router_id 1\n"
        '    notify_master "/bin/\x00"\n    virtual_ipaddress {\n        10.0.0.1/24\n    }\n}\n'
    )

    result = load_machine(str(path))

    assert result.ok
    assert {d.code for d in result.diagnostics if "does not act on it" not in d.message} == {"env"}
