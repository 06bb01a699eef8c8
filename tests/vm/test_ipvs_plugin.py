"""The ipvs pytest plugin's host side, with the VM faked: outcomes map back, failures to boot skip.

No VM is booted here: ``ipvs_vm.run`` is replaced by a fake that writes the guest's report.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from vm import ipvs_pytest, ipvs_vm

INNER_TESTS = """
import pytest

pytestmark = pytest.mark.ipvs

def test_pass():
    pass

def test_fail():
    raise AssertionError("on the host: never run")

def test_skip():
    pass

@pytest.mark.skipif(True, reason="evaluated in the guest only")
def test_guest_skipif():
    pass
"""
PLAIN_TEST = """
def test_plain():
    pass
"""


class FakeVm:
    """Stands for ipvs_vm.run: records the command, writes the given report, returns a result."""

    def __init__(
        self,
        tmp_path: Path,
        report: Mapping[str, Mapping[str, Any]] | None,
        *,
        returncode: int | None = 0,
        timed_out: bool = False,
        booted: bool = True,
        raises: str | None = None,
    ) -> None:
        self.booted = booted
        self.run_dir = tmp_path / "run"
        self.report = report
        self.returncode = returncode
        self.timed_out = timed_out
        self.raises = raises
        self.commands: list[list[str]] = []

    def __call__(self, command: Sequence[str], **kwargs: Any) -> ipvs_vm.VmResult:
        self.commands.append(list(command))
        assert kwargs["env"] == {ipvs_pytest.REPORT_ENV: ipvs_pytest.GUEST_REPORT}
        if self.raises is not None:
            raise ipvs_vm.VmUnavailable(self.raises)
        self.run_dir.mkdir(exist_ok=True)
        if self.report is not None:
            full = {f"test_inner.py::{k}": dict(v) for k, v in self.report.items()}
            (self.run_dir / "report.json").write_text(json.dumps(full))
        return ipvs_vm.VmResult(
            returncode=self.returncode,
            output="guest says hello\n",
            booted=self.booted,
            timed_out=self.timed_out,
            seconds=1.0,
            run_dir=self.run_dir,
            qemu_stderr="",
        )


@pytest.fixture
def inner(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A pytest project with ipvs tests, seen from a host without IPVS, as root."""
    monkeypatch.delenv(ipvs_vm.IN_VM_ENV, raising=False)
    monkeypatch.delenv(ipvs_pytest.MODE_ENV, raising=False)
    monkeypatch.setattr(ipvs_pytest, "PROC_IPVS", pytester.path / "no-such-proc-net-ip_vs")
    monkeypatch.setattr(ipvs_pytest, "is_root", lambda: True)
    pytester.makeini("[pytest]\nmarkers =\n    ipvs: needs IPVS\n")
    pytester.makeconftest('pytest_plugins = ["vm.ipvs_pytest"]\n')
    pytester.makepyfile(test_inner=INNER_TESTS, test_plain=PLAIN_TEST)
    return pytester


def test_guest_outcomes_are_the_host_outcomes(
    inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = FakeVm(
        tmp_path,
        {
            "test_pass": {"outcome": "passed", "text": ""},
            "test_fail": {"outcome": "failed", "text": "[call] AssertionError: guest boom"},
            "test_skip": {"outcome": "skipped", "text": "Skipped: not here"},
            "test_guest_skipif": {"outcome": "skipped", "text": "evaluated in the guest only"},
        },
        returncode=1,
    )
    monkeypatch.setattr(ipvs_vm, "run", fake)
    result = inner.runpytest_inprocess("-rA", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, failed=1, skipped=2)
    result.stdout.fnmatch_lines(["*failed in the IPVS VM*", "*guest boom*"])
    assert "on the host: never run" not in result.stdout.str()
    # One boot, for exactly the selected ipvs tests.
    assert len(fake.commands) == 1
    ids = [a for a in fake.commands[0] if a.startswith("test_")]
    assert sorted(ids) == sorted(
        f"test_inner.py::{n}" for n in ("test_pass", "test_fail", "test_skip", "test_guest_skipif")
    )


def test_deselected_ipvs_tests_are_not_sent_to_the_vm(
    inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = FakeVm(tmp_path, {"test_pass": {"outcome": "passed", "text": ""}})
    monkeypatch.setattr(ipvs_vm, "run", fake)
    result = inner.runpytest_inprocess("-k", "test_pass", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert [a for a in fake.commands[0] if a.startswith("test_")] == ["test_inner.py::test_pass"]


def test_no_vm_means_skipped_loudly_never_passed(
    inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(ipvs_vm, "run", FakeVm(tmp_path, None, raises="no qemu here"))
    result = inner.runpytest_inprocess("-rs", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, skipped=4)
    result.stdout.fnmatch_lines(
        ["*IPVS VM*", "*4 ipvs test(s) SKIPPED, NOT RUN: IPVS VM unavailable: no qemu here*"]
    )


def test_timeout_keeps_finished_outcomes_and_skips_the_rest(
    inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = FakeVm(
        tmp_path,
        {"test_pass": {"outcome": "passed", "text": ""}},
        returncode=None,
        timed_out=True,
    )
    monkeypatch.setattr(ipvs_vm, "run", fake)
    result = inner.runpytest_inprocess("-rs", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, skipped=3)
    result.stdout.fnmatch_lines(["*SKIPPED, NOT RUN: IPVS VM: the VM timed out*"])


def test_no_boot_means_skipped(
    inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(ipvs_vm, "run", FakeVm(tmp_path, None, returncode=None, booted=False))
    result = inner.runpytest_inprocess("-rs", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, skipped=4)
    result.stdout.fnmatch_lines(["*SKIPPED, NOT RUN: IPVS VM: the VM did not boot*"])


def test_a_vm_that_dies_after_booting_fails_the_unfinished_tests(
    inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A kernel panic in the middle of the tests (oops=panic) is a failure, not a skip."""
    fake = FakeVm(tmp_path, {"test_pass": {"outcome": "passed", "text": ""}}, returncode=None)
    monkeypatch.setattr(ipvs_vm, "run", fake)
    result = inner.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, failed=3)
    result.stdout.fnmatch_lines(
        ["*the VM stopped before the command finished*", "*3 ipvs test(s) FAILED: IPVS VM:*"]
    )


def test_a_guest_that_reports_nothing_fails(
    inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(ipvs_vm, "run", FakeVm(tmp_path, None, returncode=4))
    result = inner.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=4)
    result.stdout.fnmatch_lines(["*the guest pytest reported nothing for this test (exit code 4)*"])


def test_off_switch_skips_without_booting(
    inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = FakeVm(tmp_path, None)
    monkeypatch.setattr(ipvs_vm, "run", fake)
    monkeypatch.setenv(ipvs_pytest.MODE_ENV, "off")
    result = inner.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, skipped=4)
    assert fake.commands == []


def test_load_order_puts_dependencies_first(tmp_path: Path) -> None:
    (tmp_path / "modules.dep").write_text(
        "kernel/a/9p.ko: kernel/n/9pnet.ko kernel/f/netfs.ko\n"
        "kernel/n/9pnet.ko:\nkernel/f/netfs.ko:\nkernel/v/virtio.ko:\n"
        "kernel/n/9pnet_virtio.ko: kernel/n/9pnet.ko kernel/v/virtio.ko\n"
    )
    (tmp_path / "modules.builtin").write_text("kernel/o/overlay.ko\n")
    assert ipvs_vm.load_order(tmp_path, ["9p", "9pnet_virtio", "overlay"]) == [
        "kernel/f/netfs.ko",
        "kernel/n/9pnet.ko",
        "kernel/a/9p.ko",
        "kernel/v/virtio.ko",
        "kernel/n/9pnet_virtio.ko",
    ]
    with pytest.raises(ipvs_vm.VmUnavailable, match="ip_vs"):
        ipvs_vm.load_order(tmp_path, ["ip_vs"])
