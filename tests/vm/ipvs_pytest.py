"""pytest plugin: tests marked ``ipvs`` run where kernel IPVS is, in one VM boot if need be.

Three places a test session can be:

* **native**: ``/proc/net/ip_vs`` exists and we are root (a host whose kernel has IPVS loaded):
  ``ipvs`` tests simply run.
* **guest**: inside the VM (``PYKEEPALIVED_IN_VM=1``, set by tests/vm/ipvs_vm.py): ``ipvs``
  tests run for real, and each test's outcome is written to the JSON file named by
  ``PYKEEPALIVED_VM_REPORT`` for the host to read.
* **host** (this project's machines: no IPVS): after selection (``-k``, ``-m``), every ``ipvs``
  test is replaced by a proxy item with the same node id. The first proxy to run boots the VM
  once (tests/vm/ipvs_vm.py) and runs ``pytest <all selected ipvs node ids>`` inside; each proxy
  then reports its test's outcome from the guest (passed, failed with the guest's traceback,
  skipped, xfailed). When the VM cannot be prepared or boot, or the timeout hits first, the
  proxies are SKIPPED with the reason, and the terminal summary says so loudly: never passed.

Environment: ``PYKEEPALIVED_IPVS_VM=off`` skips the ``ipvs`` tests instead of booting the VM;
``PYKEEPALIVED_IPVS_VM_TIMEOUT`` (seconds, default 600) bounds the whole VM run (first-time setup
included). Output of the guest pytest: ``console.log`` in the run directory, named in the summary.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn, cast

import pytest

from vm import ipvs_vm

MODE_ENV = "PYKEEPALIVED_IPVS_VM"
TIMEOUT_ENV = "PYKEEPALIVED_IPVS_VM_TIMEOUT"
REPORT_ENV = "PYKEEPALIVED_VM_REPORT"
GUEST_REPORT = "/run/ipvs-vm/report.json"  # the run directory, as the guest mounts it
PROC_IPVS = Path("/proc/net/ip_vs")
# Markers evaluated in the guest only; a proxy on the host must not act on them.
GUEST_ONLY_MARKS = frozenset({"skip", "skipif", "xfail", "usefixtures", "filterwarnings"})


def in_vm() -> bool:
    return os.environ.get(ipvs_vm.IN_VM_ENV) == "1"


def is_root() -> bool:
    return os.geteuid() == 0


def native_ipvs() -> bool:
    return PROC_IPVS.exists() and is_root()


def pytest_configure(config: pytest.Config) -> None:
    if in_vm():
        report = os.environ.get(REPORT_ENV)
        if report:
            config.pluginmanager.register(_GuestRecorder(Path(report)), "ipvs-vm-guest-recorder")
    elif not native_ipvs():
        config.stash[_RUN] = _VmRun(config)


# ---------------------------------------------------------------------------------------- guest


class _GuestRecorder:
    """In the guest: one outcome per node id, written as JSON at the end of the session."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.results: dict[str, dict[str, Any]] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        entry = self.results.setdefault(
            report.nodeid, {"outcome": "passed", "text": "", "duration": 0.0}
        )
        entry["duration"] += report.duration
        if entry["outcome"] == "failed":
            return
        if report.failed:
            sections = "".join(f"\n--- {title} ---\n{body}" for title, body in report.sections)
            entry["outcome"] = "failed"
            entry["text"] = f"[{report.when}] {report.longreprtext}{sections}"
        elif report.skipped:
            if hasattr(report, "wasxfail"):
                entry.update(outcome="xfailed", text=str(report.wasxfail))
            else:
                longrepr = report.longrepr
                reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
                entry.update(outcome="skipped", text=str(reason))
        elif report.when == "call" and hasattr(report, "wasxfail"):
            entry.update(outcome="xpassed", text=str(report.wasxfail))
        if report.when == "teardown":
            self.write()  # after every test: a timeout loses only the tests not yet run

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        del session
        self.write()

    def write(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.results, indent=1))
        tmp.rename(self.path)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    if in_vm() and item.get_closest_marker("ipvs") and not PROC_IPVS.exists():
        pytest.fail("inside the IPVS VM but /proc/net/ip_vs is missing: ip_vs did not load")


# ----------------------------------------------------------------------------------------- host


@dataclass
class _VmRun:
    """The one VM boot of a host session, started by the first proxy that runs."""

    config: pytest.Config
    started: bool = False
    unavailable: str | None = None
    result: ipvs_vm.VmResult | None = None
    outcomes: dict[str, dict[str, Any]] = field(default_factory=dict)
    nodeids: list[str] = field(default_factory=list)

    def ensure(self, session: pytest.Session) -> None:
        if self.started:
            return
        self.started = True
        self.nodeids = [i.nodeid for i in session.items if isinstance(i, VmProxyItem)]
        mode = os.environ.get(MODE_ENV, "auto")
        if mode == "off":
            self.unavailable = f"{MODE_ENV}=off"
            return
        if not is_root():
            self.unavailable = "the IPVS VM needs root on the host (apt, and a 9p share of /)"
            return
        try:
            timeout = float(os.environ.get(TIMEOUT_ENV, ipvs_vm.DEFAULT_TIMEOUT))
        except ValueError:
            timeout = ipvs_vm.DEFAULT_TIMEOUT
        rootdir = self.config.rootpath
        command = [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            f"--rootdir={rootdir}",
            "-q",
            "-rfEs",
            *self.nodeids,
        ]
        verbose = self.config.get_verbosity() > 0
        self._say(
            f"IPVS VM: booting Debian's kernel under QEMU (TCG) for {len(self.nodeids)} ipvs "
            f"test(s), at most {timeout:.0f} s"
        )
        try:
            with _no_capture(self.config):
                self.result = ipvs_vm.run(
                    command,
                    cwd=rootdir,
                    env={REPORT_ENV: GUEST_REPORT},
                    timeout=timeout,
                    echo=sys.stdout if verbose else None,
                    log=lambda message: self._say(f"IPVS VM: {message}"),
                )
        except ipvs_vm.VmUnavailable as exc:
            self.unavailable = str(exc)
            return
        (self.result.run_dir / "console.log").write_text(self.result.output)
        report = self.result.run_dir / "report.json"
        if report.exists():
            self.outcomes = json.loads(report.read_text())

    def _say(self, line: str) -> None:
        reporter = self.config.pluginmanager.getplugin("terminalreporter")
        if reporter is None:
            return
        with _no_capture(self.config):
            reporter.write("\n")
            reporter.write_line(line, yellow=True, bold=True)

    def skip_reason(self) -> str | None:
        """Why every proxy without a guest outcome is skipped: the VM did not get to run it.

        That is: no VM, no boot, or the timeout. A VM that booted and then stopped without an
        exit code (a kernel panic: ``oops=panic``) is not a reason to skip: those tests fail.
        """
        if self.unavailable is not None:
            return f"IPVS VM unavailable: {self.unavailable}"
        result = self.result
        if result is not None and (result.timed_out or not result.booted):
            return f"IPVS VM: {result.failure_reason()}"
        return None

    def summary(self) -> list[str]:
        if not self.started:
            return []
        skipped = self.skip_reason()
        lines: list[str] = []
        if self.result is not None:
            waited = self.result.waited
            lines.append(
                f"VM ran {self.result.seconds:.0f} s"
                + (f" (after waiting {waited:.0f} s for another VM run)" if waited > 1 else "")
                + ", guest pytest exit code "
                f"{self.result.returncode}; {len(self.outcomes)}/{len(self.nodeids)} test(s) "
                f"reported; guest output: {self.result.run_dir / 'console.log'}"
            )
        missing = len(self.nodeids) - len(self.outcomes)
        if skipped is not None:
            lines.append(f"{missing} ipvs test(s) SKIPPED, NOT RUN: {skipped}")
        elif self.result is not None and self.result.returncode is None:
            lines.append(f"{missing} ipvs test(s) FAILED: IPVS VM: {self.result.failure_reason()}")
        return lines

    def bad(self) -> bool:
        return self.skip_reason() is not None or (
            self.result is not None and self.result.returncode is None
        )


_RUN = pytest.StashKey[_VmRun]()


def _no_capture(config: pytest.Config) -> contextlib.AbstractContextManager[None]:
    """Let the VM run write to the terminal although a test (the first proxy) is running."""
    capman = config.pluginmanager.getplugin("capturemanager")
    if capman is None:
        return contextlib.nullcontext()
    return cast(contextlib.AbstractContextManager[None], capman.global_and_fixture_disabled())


def _skip_here(reason: str) -> NoReturn:
    """Skip, reported at the test's own location rather than this file's (as skip marks do)."""
    raise pytest.skip.Exception(reason, _use_item_location=True)


class VmProxyItem(pytest.Item):
    """Stands on the host for an ``ipvs`` test; its outcome is the guest's."""

    def __init__(self, *, location: tuple[Any, int | None, str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._location_info = location

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self._location_info

    def runtest(self) -> None:
        run = self.config.stash[_RUN]
        run.ensure(self.session)
        outcome = run.outcomes.get(self.nodeid)
        if outcome is None:
            reason = run.skip_reason()
            if reason is not None:
                _skip_here(reason)
            result = run.result
            if result is not None and result.returncode is None:
                pytest.fail(
                    f"IPVS VM: {result.failure_reason()}\nguest output tail:\n"
                    f"{result.output[-3000:]}",
                    pytrace=False,
                )
            pytest.fail(
                "the guest pytest reported nothing for this test "
                f"(exit code {result.returncode if result else None}); "
                f"guest output tail:\n{result.output[-3000:] if result else ''}",
                pytrace=False,
            )
        kind, text = outcome["outcome"], outcome["text"]
        if kind == "failed":
            pytest.fail(f"failed in the IPVS VM:\n{text}", pytrace=False)
        if kind == "skipped":
            _skip_here(f"in the IPVS VM: {text}")
        if kind == "xfailed":
            pytest.xfail(text)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On a host without IPVS, replace the selected ``ipvs`` tests by proxies (after -k/-m)."""
    if _RUN not in config.stash:
        return
    for index, item in enumerate(items):
        if item.get_closest_marker("ipvs") is None or isinstance(item, VmProxyItem):
            continue
        if item.parent is None:
            continue
        proxy = VmProxyItem.from_parent(item.parent, name=item.name, location=item.reportinfo())
        proxy.keywords.update(item.keywords)
        proxy.own_markers.extend(m for m in item.own_markers if m.name not in GUEST_ONLY_MARKS)
        items[index] = proxy


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    run = config.stash.get(_RUN, None)
    if run is None:
        return
    lines = run.summary()
    if not lines:
        return
    bad = run.bad()
    terminalreporter.section("IPVS VM", sep="=", red=bad, yellow=not bad, bold=True)
    for line in lines:
        terminalreporter.write_line(line, red=bad and ("SKIPPED" in line or "FAILED" in line))
