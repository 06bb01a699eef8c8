"""The runner against real servers: detection times, isolation of hung probes, spread, stop.

Timings are measured here with generous bounds: the machine is small and shared.
"""

import asyncio
import itertools
import struct
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Hashable
from functools import partial
from pathlib import Path

import pytest
from loopback_servers import LOCAL, free_tcp_port, silent, stream_server

from pykeepalived.check.catalog import make_check
from pykeepalived.check.filewatch import IN_CLOSE_WRITE, FileWatcher, parse_events
from pykeepalived.check.hysteresis import (
    CheckerDown,
    CheckerUp,
    HysteresisParams,
    checker_params,
)
from pykeepalived.check.probes import file, http, misc, tcp
from pykeepalived.check.probes.common import ProbeTarget, guarded
from pykeepalived.check.result import ProbeResult
from pykeepalived.check.runner import Check, CheckEvent, CheckRunner, spread_fraction


def fast(delay: float, **kw: float | bool) -> HysteresisParams:
    return HysteresisParams(delay_loop_s=delay, warmup_s=0, start_delay_s=0, **kw)  # type: ignore[arg-type]


class Recorder:
    """Collects events with the wall time they arrived; lets a test wait for one."""

    def __init__(self) -> None:
        self.events: list[tuple[float, CheckEvent]] = []
        self._changed = asyncio.Event()

    def __call__(self, event: CheckEvent) -> None:
        self.events.append((time.monotonic(), event))
        self._changed.set()

    async def wait_for(
        self, key: Hashable, kind: type, within: float, *, since: int | None = None
    ) -> float:
        """Wait for an event of ``kind`` for ``key`` (from index ``since``, default: a new one)."""
        seen = len(self.events) if since is None else since
        async with asyncio.timeout(within):
            while True:
                for at, ev in self.events[seen:]:
                    if ev.key == key and isinstance(ev.event, kind):
                        return at
                seen = len(self.events)
                self._changed.clear()
                await self._changed.wait()


async def running(runner: CheckRunner, body: Callable[[], Awaitable[None]]) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop), name="runner")
    try:
        await body()
    finally:
        stop.set()
        async with asyncio.timeout(2):
            await task


def test_down_within_bound_and_up_within_delay_loop() -> None:
    delay, timeout = 0.3, 0.3

    async def go() -> None:
        rec = Recorder()
        port_holder: dict[str, int] = {}
        async with stream_server(silent) as port:
            port_holder["p"] = port
        port = port_holder["p"]
        t = ProbeTarget(connect_ip=LOCAL, connect_port=port, connect_timeout_s=timeout)
        for retry, rise in ((0, 1), (1, 2)):
            key = f"rs-{retry}-{rise}"
            params = fast(delay, retry=retry, delay_before_retry_s=0.1, rise=rise, alpha=True)
            runner = CheckRunner(
                [Check(key=key, probe=partial(tcp.probe, t), hysteresis=params, timeout_s=timeout)],
                rec,
            )

            async def scenario(key: str = key, retry: int = retry, rise: int = rise) -> None:
                await rec.wait_for(key, CheckerDown, 1.0)  # alpha, nobody listening yet
                async with stream_server(silent, port=port):
                    started = time.monotonic()
                    came_up = await rec.wait_for(key, CheckerUp, 3.0)
                    assert came_up - started <= rise * delay + 0.4  # generous: a shared machine
                stopped = time.monotonic()
                went_down = await rec.wait_for(key, CheckerDown, 5.0)
                bound = delay + (retry + 1) * timeout + retry * 0.1 + 0.5
                assert went_down - stopped <= bound

            await running(runner, scenario)

    asyncio.run(go())


def test_hung_probes_cost_one_timeout_and_delay_no_other_check() -> None:
    """A hung MISC script and a mute HTTP peer run beside a fast TCP check."""
    hang_timeout = 1.0

    async def go() -> None:
        rec = Recorder()
        starts: list[float] = []
        async with stream_server(silent) as mute, stream_server(silent) as healthy:

            async def fast_probe() -> ProbeResult:
                starts.append(time.monotonic())
                t = ProbeTarget(connect_ip=LOCAL, connect_port=healthy, connect_timeout_s=0.5)
                return await tcp.probe(t)

            sleeper = misc.MiscParams(misc_path=("sleep", "30"), misc_timeout_s=hang_timeout)
            mute_t = ProbeTarget(connect_ip=LOCAL, connect_port=mute,
                                 connect_timeout_s=hang_timeout)  # fmt: skip
            checks = [
                Check(key="fast", probe=fast_probe, hysteresis=fast(0.1), timeout_s=0.5),
                Check(key="misc", probe=partial(misc.probe, None, sleeper),
                      hysteresis=fast(10, retry=0), timeout_s=hang_timeout),
                Check(key="http", probe=partial(http.probe, mute_t, http.HttpParams()),
                      hysteresis=fast(10, retry=0), timeout_s=hang_timeout),
            ]  # fmt: skip
            runner = CheckRunner(checks, rec)
            t0 = time.monotonic()

            async def scenario() -> None:
                for key in ("misc", "http"):
                    at = await rec.wait_for(key, CheckerDown, 3.0, since=0)
                    assert hang_timeout - 0.05 <= at - t0 <= hang_timeout + 0.5, key
                await asyncio.sleep(0.2)

            await running(runner, scenario)
        gaps = [b - a for a, b in itertools.pairwise(starts)]
        assert len(starts) >= 8
        assert max(gaps) < 0.5, gaps  # delay_loop 0.1 + slack; a hang would cost 1 s
        downs = [e for _, e in rec.events if isinstance(e.event, CheckerDown)]
        assert sorted(str(e.key) for e in downs) == ["http", "misc"]  # one failure each
        assert all("timeout" in e.result.reason for e in downs)

    asyncio.run(go())


def test_spread_is_even_and_stable() -> None:
    keys = [("vs", i) for i in range(10_000)]
    buckets = Counter(int(spread_fraction(k) * 100) for k in keys)
    assert len(buckets) == 100
    assert max(buckets.values()) < 150
    assert min(buckets.values()) > 50
    assert spread_fraction(("vs", 1)) == spread_fraction(("vs", 1))


def test_first_probes_spread_over_warmup() -> None:
    async def go() -> None:
        starts: list[float] = []

        async def instant() -> ProbeResult:
            starts.append(time.monotonic())
            return ProbeResult(ok=True)

        params = HysteresisParams(delay_loop_s=10, warmup_s=0.5, start_delay_s=0)
        checks = [Check(key=i, probe=instant, hysteresis=params, timeout_s=1) for i in range(100)]
        runner = CheckRunner(checks, lambda e: None)
        t0 = time.monotonic()
        await running(runner, partial(asyncio.sleep, 0.6))
        offsets = sorted(s - t0 for s in starts)
        assert len(offsets) == 100
        assert offsets[-1] - offsets[0] > 0.35  # spread over the warmup, not one burst
        per_50ms = Counter(int(o / 0.05) for o in offsets)
        assert max(per_50ms.values()) <= 25

    asyncio.run(go())


def test_probe_bug_is_a_failure_and_runner_goes_on() -> None:
    async def go() -> None:
        rec = Recorder()
        calls = 0

        async def buggy() -> ProbeResult:
            nonlocal calls
            calls += 1
            raise KeyError("bug")

        check = Check(key="b", probe=buggy, hysteresis=fast(0.05, retry=0), timeout_s=1)
        runner = CheckRunner([check], rec)
        await running(runner, partial(asyncio.sleep, 0.3))
        assert calls >= 3
        first = rec.events[0][1]
        assert isinstance(first.event, CheckerDown)
        assert "KeyError" in first.result.reason
        assert runner.status()[0].probes == calls

    asyncio.run(go())


def test_stop_cancels_in_flight_probes_promptly() -> None:
    async def go() -> None:
        sleeper = misc.MiscParams(misc_path=("sleep", "30"), misc_timeout_s=20)
        check = Check(key="m", probe=partial(misc.probe, None, sleeper), hysteresis=fast(1),
                      timeout_s=20)  # fmt: skip
        runner = CheckRunner([check], lambda e: None)
        stop = asyncio.Event()
        task = asyncio.create_task(runner.run(stop))
        await asyncio.sleep(0.2)
        stopped = time.monotonic()
        stop.set()
        async with asyncio.timeout(2):
            await task
        assert time.monotonic() - stopped < 0.5

    asyncio.run(go())


def test_duplicate_keys_refused() -> None:
    async def nop() -> ProbeResult:
        return ProbeResult(ok=True)

    check = Check(key="k", probe=nop, hysteresis=fast(1), timeout_s=1)
    with pytest.raises(ValueError, match="duplicate"):
        CheckRunner([check, check], lambda e: None)


def test_max_in_flight_bounds_concurrency() -> None:
    async def go() -> None:
        now_running, peak = 0, 0

        async def slow() -> ProbeResult:
            nonlocal now_running, peak
            now_running += 1
            peak = max(peak, now_running)
            await asyncio.sleep(0.1)
            now_running -= 1
            return ProbeResult(ok=True)

        checks = [Check(key=i, probe=slow, hysteresis=fast(5), timeout_s=1) for i in range(6)]
        runner = CheckRunner(checks, lambda e: None, max_in_flight=2)
        await running(runner, partial(asyncio.sleep, 0.45))
        assert peak == 2
        assert sum(s.probes for s in runner.status()) == 6

    asyncio.run(go())


def test_add_and_remove_while_running() -> None:
    async def go() -> None:
        rec = Recorder()
        counts: Counter[str] = Counter()

        def counting(name: str) -> Callable[[], Awaitable[ProbeResult]]:
            async def probe() -> ProbeResult:
                counts[name] += 1
                await asyncio.sleep(0.02)
                return ProbeResult(ok=True)

            return probe

        old = Check(key="old", probe=counting("old"), hysteresis=fast(0.05), timeout_s=1)
        runner = CheckRunner([old], rec)

        async def scenario() -> None:
            await rec.wait_for("old", CheckerUp, 1.0)
            runner.add(Check(key="new", probe=counting("new"), hysteresis=fast(0.05),
                             timeout_s=1))  # fmt: skip
            await rec.wait_for("new", CheckerUp, 1.0)
            runner.remove("old")
            frozen = counts["old"]
            await asyncio.sleep(0.3)
            assert counts["old"] <= frozen + 1  # at most the probe that was in flight
            assert [s.key for s in runner.status()] == ["new"]
            with pytest.raises(ValueError, match="duplicate"):
                runner.add(Check(key="new", probe=counting("x"), hysteresis=fast(1),
                                 timeout_s=1))  # fmt: skip

        await running(runner, scenario)
        assert counts["new"] >= 4

    asyncio.run(go())


def test_file_check_reacts_to_inotify_not_delay_loop(tmp_path: Path) -> None:
    """delay_loop is 30 s; the watcher's poke makes the change count within a fraction."""
    value = tmp_path / "state"
    value.write_text("0\n")

    async def go() -> None:
        rec = Recorder()
        params = file.FileParams(file_path=str(value), weight=0)
        check = Check(key="f", probe=partial(file.probe, None, params),
                      hysteresis=checker_params("FILE_CHECK", delay_loop_s=30, warmup_s=0),
                      timeout_s=1)  # fmt: skip
        runner = CheckRunner([check], rec)
        watcher = FileWatcher([str(value)], lambda path: runner.poke("f"))
        stop = asyncio.Event()

        async def scenario() -> None:
            await rec.wait_for("f", CheckerUp, 2.0)  # the bootstrap delay, 1 s
            for text, kind in (("1\n", CheckerDown), ("0\n", CheckerUp)):
                written = time.monotonic()
                tmp = tmp_path / "state.new"
                tmp.write_text(text)
                tmp.rename(value)  # replaced by rename, as config tools do
                assert await rec.wait_for("f", kind, 2.0) - written < 0.8  # delay_loop: 30 s

        async with asyncio.TaskGroup() as tg:
            tg.create_task(watcher.run(stop), name="watcher")
            try:
                await running(runner, scenario)
            finally:
                stop.set()

    asyncio.run(go())


def test_inotify_record_parsing() -> None:
    record = struct.pack("iIII", 3, IN_CLOSE_WRITE, 0, 8) + b"abc\0\0\0\0\0"
    assert parse_events(record * 2) == [(3, IN_CLOSE_WRITE, "abc")] * 2


def test_catalog_binds_probe_params_and_timeout() -> None:
    t = ProbeTarget(connect_ip=LOCAL, connect_port=1, connect_timeout_s=3)
    hy = checker_params("TCP_CHECK", delay_loop_s=5)
    assert (
        make_check("a", "TCP_CHECK", target=t, params=tcp.TcpParams(), hysteresis=hy).timeout_s == 3
    )
    sleeper = misc.MiscParams(misc_path=("true",), misc_timeout_s=7)
    assert make_check("b", "MISC_CHECK", target=None, params=sleeper, hysteresis=hy).timeout_s == 7
    with pytest.raises(TypeError, match="HttpParams"):
        make_check("c", "HTTP_GET", target=t, params=tcp.TcpParams(), hysteresis=hy)
    with pytest.raises(ValueError, match="ssl=True"):
        make_check("d", "SSL_GET", target=t, params=http.HttpParams(), hysteresis=hy)
    with pytest.raises(ValueError, match="needs a target"):
        make_check("e", "TCP_CHECK", target=None, params=tcp.TcpParams(), hysteresis=hy)

    async def go() -> None:
        rec = Recorder()
        async with stream_server(silent) as port:
            live = ProbeTarget(connect_ip=LOCAL, connect_port=port, connect_timeout_s=1)
            check = make_check("tcp", "TCP_CHECK", target=live, params=tcp.TcpParams(),
                               hysteresis=fast(1))  # fmt: skip
            await running(CheckRunner([check], rec), partial(rec.wait_for, "tcp", CheckerUp, 1.0))

    asyncio.run(go())


def test_stats_count_started_finished_failed_and_late() -> None:
    async def go() -> None:
        async def ok() -> ProbeResult:
            return ProbeResult(ok=True)

        async def bad() -> ProbeResult:
            return ProbeResult(ok=False, reason="no")

        checks = [
            Check(key="ok", probe=ok, hysteresis=fast(0.05), timeout_s=1),
            Check(key="bad", probe=bad, hysteresis=fast(0.05, retry=0), timeout_s=1),
        ]
        runner = CheckRunner(checks, lambda e: None, late_after_s=5.0)
        await running(runner, partial(asyncio.sleep, 0.3))
        stats = runner.stats
        assert stats.started >= stats.done >= 6
        assert stats.done - stats.failed >= 3
        assert stats.failed >= 3
        assert stats.started_late == 0
        assert 0 <= stats.max_lateness_s < 5.0

    asyncio.run(go())


def test_a_stalled_loop_gives_the_probes_own_timeout_not_the_watchdog() -> None:
    """Loop blocked past both the probe's timeout and the runner's watchdog: when it resumes,
    the probe's own timeout (due first) is already cancelling it; the watchdog must not turn
    that into a "hard timeout"."""

    async def go() -> None:
        rec = Recorder()
        started = asyncio.Event()

        async def slow() -> ProbeResult:
            started.set()
            return await guarded(0.1, _forever())

        check = Check(key="s", probe=slow, hysteresis=fast(10, retry=0), timeout_s=0.1)
        runner = CheckRunner([check], rec)

        async def stall() -> None:
            await started.wait()
            time.sleep(0.9)  # noqa: ASYNC251 - on purpose: stall the loop past both bounds
            await rec.wait_for("s", CheckerDown, 2.0, since=0)

        await running(runner, stall)
        (down,) = [e for _, e in rec.events if isinstance(e.event, CheckerDown)]
        assert down.result.reason == "timeout after 0.1s"

    asyncio.run(go())


async def _forever() -> ProbeResult:
    await asyncio.sleep(3600)
    return ProbeResult(ok=True)


def test_a_stalled_loop_does_not_fail_a_healthy_server() -> None:
    """The server answers in 10 ms, but the loop stalls 0.5 s mid-probe: the probe's own 0.1 s
    timeout then fires (late) before the answer is read. That verdict says nothing about the
    server: it is voided and the probe retried at once, so no CheckerDown."""

    async def go() -> None:
        rec = Recorder()
        started = asyncio.Event()
        calls = 0

        async def answers_in_10ms() -> ProbeResult:
            nonlocal calls
            calls += 1
            started.set()
            return await guarded(0.1, _after(0.01))

        params = fast(10, retry=0, delay_before_retry_s=0.05)
        check = Check(key="h", probe=answers_in_10ms, hysteresis=params, timeout_s=0.1)
        runner = CheckRunner([check], rec)

        async def stall() -> None:
            await started.wait()
            time.sleep(0.5)  # noqa: ASYNC251 - on purpose: stall the loop mid-probe
            await asyncio.sleep(0.3)

        await running(runner, stall)
        assert not [e for _, e in rec.events if isinstance(e.event, CheckerDown)]
        assert runner.stats.voided == 1
        assert calls == 2
        assert runner.status()[0].up

    asyncio.run(go())


async def _after(seconds: float) -> ProbeResult:
    await asyncio.sleep(seconds)
    return ProbeResult(ok=True)


def test_status_tallies_every_real_probe_and_its_latency() -> None:
    """The latency histogram holds every probe result the runner counts, not a sample."""

    async def go() -> None:
        async with stream_server(silent) as port:
            live = ProbeTarget(connect_ip=LOCAL, connect_port=port, connect_timeout_s=1)
            dead = ProbeTarget(connect_ip=LOCAL, connect_port=free_tcp_port(), connect_timeout_s=1)
            checks = [
                make_check(
                    name,
                    "TCP_CHECK",
                    target=t,
                    params=tcp.TcpParams(),
                    hysteresis=fast(0.02, retry=0),
                )
                for name, t in (("live", live), ("dead", dead))
            ]
            runner = CheckRunner(checks, lambda e: None)
            await running(runner, partial(asyncio.sleep, 0.6))
        by_key = {s.key: s for s in runner.status()}
        for key, failed in (("live", False), ("dead", True)):
            s = by_key[key]
            buckets = dict(s.latency_buckets)
            assert s.probes >= 5, key
            assert buckets["+Inf"] == s.probes, key  # every probe is in the histogram
            assert s.probes_failed == (s.probes if failed else 0), key
            assert buckets["1.0"] == s.probes, key  # loopback: each well under a second
            assert 0 < s.latency_sum_s < s.probes * 1.0, key
            values = list(buckets.values())
            assert values == sorted(values), key
        assert runner.stats.done == sum(s.probes for s in by_key.values())

    asyncio.run(go())
