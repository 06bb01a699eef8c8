"""The runner's callback form (``Check.start``): the hot path of plain HTTP_GET and TCP_CHECK.

A callback probe has no task and no timer: the runner starts it from its scheduler, cuts it
at ``timeout_s`` (that is its timeout result) and aborts it on remove and stop. Real servers
on loopback for the HTTP rows; hand-made starters for the contract's edges.
"""

import asyncio
import gc
import itertools
import socket
import time
from collections.abc import Callable

import pytest
from loopback_servers import LOCAL, HttpRoute, free_tcp_port, http_server, silent, stream_server
from test_check_runner import Recorder, fast, running

from pykeepalived.check.catalog import make_check
from pykeepalived.check.hysteresis import CheckerDown, CheckerUp, HysteresisParams
from pykeepalived.check.probes import http, http_lean, tcp
from pykeepalived.check.probes.common import ProbeTarget
from pykeepalived.check.result import ProbeResult
from pykeepalived.check.runner import Abort, Check, CheckRunner, Done


def http_check(key: str, port: int, hysteresis: HysteresisParams, timeout: float) -> Check:
    target = ProbeTarget(connect_ip=LOCAL, connect_port=port, connect_timeout_s=timeout)
    params = http.HttpParams(urls=(http.Url(path="/", status_code=((200, 200),)),))
    return make_check(key, "HTTP_GET", target=target, params=params, hysteresis=hysteresis)


def test_catalog_gives_plain_status_http_its_callback_form() -> None:
    t = ProbeTarget(connect_ip=LOCAL, connect_port=80)
    hy = fast(1)
    assert isinstance(http_check("a", 80, hy, 1).start, http_lean.LeanHttp)
    digest = http.HttpParams(urls=(http.Url(path="/", digest="0" * 32),))
    assert make_check("b", "HTTP_GET", target=t, params=digest, hysteresis=hy).start is None
    tls = http.HttpParams(ssl=True)
    assert make_check("c", "SSL_GET", target=t, params=tls, hysteresis=hy).start is None


def test_http_up_wrong_status_refused_and_mute_through_the_runner() -> None:
    """Each way a server can be, through the runner's callback path, with its reason."""

    async def go() -> None:
        rec = Recorder()
        ok, sick = {"/": HttpRoute(status=200)}, {"/": HttpRoute(status=503)}
        async with http_server(ok) as good, http_server(sick) as bad, stream_server(silent) as mute:
            hy = fast(0.2, retry=0)
            checks = [
                http_check("good", good.port, hy, 0.3),
                http_check("bad", bad.port, hy, 0.3),
                http_check("refused", free_tcp_port(), hy, 0.3),
                http_check("mute", mute, hy, 0.3),
            ]
            runner = CheckRunner(checks, rec)

            async def scenario() -> None:
                await rec.wait_for("good", CheckerUp, 2.0, since=0)
                for key in ("bad", "refused", "mute"):
                    await rec.wait_for(key, CheckerDown, 2.0, since=0)
                await asyncio.sleep(0.3)

            await running(runner, scenario)
        reasons = {e.key: e.result.reason for _, e in rec.events}
        assert reasons == {
            "good": "1 url(s) ok",
            "bad": "status 503 on /",
            "refused": "connection refused",
            "mute": "timeout after 0.3s",
        }
        assert runner.stats.done >= 8
        assert runner.stats.voided == 0

    asyncio.run(go())


def test_tcp_up_refused_and_unanswered_through_the_runner() -> None:
    """TCP_CHECK's callback form: connected, refused, and a SYN never answered (a listener
    whose accept queue is full drops it: the connect stays in progress, the runner cuts it)."""
    full = socket.socket()
    full.bind((LOCAL, 0))
    full.listen(0)  # one queued connection fills it
    queued = socket.create_connection(full.getsockname())

    async def go() -> None:
        rec = Recorder()
        async with stream_server(silent) as port:
            hy = fast(0.2, retry=0)
            checks = [
                tcp_check("up", port, hy),
                tcp_check("refused", free_tcp_port(), hy),
                tcp_check("unanswered", full.getsockname()[1], hy),
            ]
            assert all(isinstance(c.start, tcp.LeanTcp) for c in checks)
            runner = CheckRunner(checks, rec)

            async def scenario() -> None:
                await rec.wait_for("up", CheckerUp, 2.0, since=0)
                for key in ("refused", "unanswered"):
                    await rec.wait_for(key, CheckerDown, 2.0, since=0)
                await asyncio.sleep(0.3)

            await running(runner, scenario)
        reasons = {e.key: e.result.reason for _, e in rec.events}
        assert reasons == {
            "up": "connected",
            "refused": "connection refused",
            "unanswered": "timeout after 0.3s",
        }
        assert runner.stats.done >= 6

    try:
        asyncio.run(go())
    finally:
        queued.close()
        full.close()


def tcp_check(key: str, port: int, hysteresis: HysteresisParams) -> Check:
    target = ProbeTarget(connect_ip=LOCAL, connect_port=port, connect_timeout_s=0.3)
    return make_check(key, "TCP_CHECK", target=target, params=tcp.TcpParams(),
                      hysteresis=hysteresis)  # fmt: skip


class Hung:
    """A starter that never calls ``done``; it counts starts and aborts."""

    def __init__(self) -> None:
        self.starts = 0
        self.aborts = 0
        self.done: Done | None = None

    def __call__(self, done: Done) -> Abort:
        self.starts += 1
        self.done = done
        return self.abort

    def abort(self) -> None:
        self.aborts += 1


async def never() -> ProbeResult:
    raise AssertionError("the runner must take the callback form")


def test_hung_callback_probe_is_cut_at_its_timeout_and_delays_no_other() -> None:
    async def go() -> None:
        rec = Recorder()
        hung = Hung()
        ticks: list[float] = []

        def quick(done: Done) -> Abort:
            ticks.append(time.monotonic())
            done(ProbeResult(ok=True, reason="at once"))  # before start returns: allowed
            return lambda: None

        checks = [
            Check(key="hung", probe=never, start=hung, hysteresis=fast(10, retry=0),
                  timeout_s=0.3),
            Check(key="quick", probe=never, start=quick, hysteresis=fast(0.05), timeout_s=1),
        ]  # fmt: skip
        runner = CheckRunner(checks, rec)
        t0 = time.monotonic()

        async def scenario() -> None:
            at = await rec.wait_for("hung", CheckerDown, 2.0, since=0)
            assert 0.3 <= at - t0 <= 0.3 + 0.4
            assert hung.done is not None
            hung.done(ProbeResult(ok=True))  # after its abort: ignored
            await asyncio.sleep(0.1)

        await running(runner, scenario)
        assert (hung.starts, hung.aborts) == (1, 1)
        (down,) = [e for _, e in rec.events if isinstance(e.event, CheckerDown)]
        assert down.result.reason == "timeout after 0.3s"
        assert len(ticks) >= 6
        assert max(b - a for a, b in itertools.pairwise(ticks)) < 0.3

    asyncio.run(go())


def test_remove_and_stop_abort_callback_probes_in_flight() -> None:
    async def go() -> None:
        first, second = Hung(), Hung()
        checks = [
            Check(key=k, probe=never, start=s, hysteresis=fast(10), timeout_s=30)
            for k, s in (("a", first), ("b", second))
        ]
        runner = CheckRunner(checks, lambda e: None)

        async def scenario() -> None:
            await _until(lambda: bool(first.starts and second.starts), 1.0)
            runner.remove("a")
            assert first.aborts == 1
            assert second.aborts == 0

        await running(runner, scenario)
        assert second.aborts == 1  # at stop
        assert runner.stats.done == 0

    asyncio.run(go())


def test_a_starter_that_raises_is_a_failure_and_the_runner_goes_on() -> None:
    async def go() -> None:
        rec = Recorder()

        def broken(done: Done) -> Abort:
            raise TypeError("a bug")

        check = Check(key="x", probe=never, start=broken, hysteresis=fast(0.05, retry=0),
                      timeout_s=1)  # fmt: skip
        runner = CheckRunner([check], rec)

        async def scenario() -> None:
            await rec.wait_for("x", CheckerDown, 1.0, since=0)

        await running(runner, scenario)
        assert rec.events[0][1].result.reason == "probe error: TypeError"

    asyncio.run(go())


def test_an_emit_that_raises_does_not_stop_the_schedule(caplog: pytest.LogCaptureFixture) -> None:
    """A bug in what ``emit`` runs is logged with its traceback; the probes go on."""

    async def go() -> None:
        starts: list[float] = []

        def quick(done: Done) -> Abort:
            starts.append(time.monotonic())
            done(ProbeResult(ok=True))  # lands inside the scheduler's tick
            return lambda: None

        def emit(event: object) -> None:
            raise RuntimeError("a bug downstream")

        check = Check(key="q", probe=never, start=quick, hysteresis=fast(0.02), timeout_s=1)
        runner = CheckRunner([check], emit)
        await running(runner, lambda: _until(lambda: len(starts) >= 5, 2.0))

    asyncio.run(go())
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1  # the first result's CheckerUp only
    assert errors[0].exc_info is not None
    assert errors[0].exc_info[0] is RuntimeError


def test_freeze_gc_after_start_and_after_a_reloads_adds() -> None:
    """The daemon's ``freeze_gc``: long-lived state leaves the collector's full passes."""

    def quick(done: Done) -> Abort:
        done(ProbeResult(ok=True))
        return lambda: None

    def check(key: str) -> Check:
        return Check(key=key, probe=never, start=quick, hysteresis=fast(10), timeout_s=1)

    async def go(freeze: bool) -> list[int]:
        counts = []
        runner = CheckRunner([check("a")], lambda e: None, freeze_gc=freeze)

        async def scenario() -> None:
            await asyncio.sleep(0.02)
            counts.append(gc.get_freeze_count())
            gc.unfreeze()
            runner.add(check("b"))
            await asyncio.sleep(0)
            counts.append(gc.get_freeze_count())

        await running(runner, scenario)
        return counts

    assert gc.get_freeze_count() == 0
    try:
        assert asyncio.run(go(freeze=False)) == [0, 0]
        after_start, after_add = asyncio.run(go(freeze=True))
        assert after_start > 0
        assert after_add > 0
    finally:
        gc.unfreeze()


def test_a_stalled_loop_voids_the_cut_instead_of_failing_a_healthy_server() -> None:
    """The loop stalls 0.6 s mid-probe: the runner's cut (0.1 s) runs 0.5 s late; that says
    nothing about the server, so it is voided and the probe retried (no CheckerDown)."""

    async def go() -> None:
        rec = Recorder()
        hung = Hung()
        params = fast(10, retry=0, delay_before_retry_s=0.05)
        runner = CheckRunner([Check(key="h", probe=never, start=hung, hysteresis=params,
                                    timeout_s=0.1)], rec)  # fmt: skip

        async def stall() -> None:
            await _until(lambda: bool(hung.starts), 1.0)
            time.sleep(0.6)  # noqa: ASYNC251 - on purpose: stall the loop past the cut
            await _until(lambda: hung.starts >= 2, 2.0)

        await running(runner, stall)
        assert not [e for _, e in rec.events if isinstance(e.event, CheckerDown)]
        assert runner.stats.voided == 1

    asyncio.run(go())


async def _until(condition: Callable[[], bool], within: float) -> None:
    async with asyncio.timeout(within):
        while not condition():  # noqa: ASYNC110 - the starters are plain objects, no event
            await asyncio.sleep(0.005)


def test_lean_coroutine_form_aborts_when_cancelled() -> None:
    """``http_lean.probe`` (the form used under max_in_flight) closes its socket on cancel:
    the server sees the connection end at once, not at the 5 s timeout."""

    async def go() -> None:
        closed = asyncio.Event()

        async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                await reader.read()  # until the client goes
            finally:
                closed.set()

        async with stream_server(mute) as port:
            target = ProbeTarget(connect_ip=LOCAL, connect_port=port, connect_timeout_s=5)
            task = asyncio.create_task(http_lean.probe(target, http.HttpParams()))
            await asyncio.sleep(0.05)
            assert not closed.is_set()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            async with asyncio.timeout(1):
                await closed.wait()
        assert task.cancelled()

    asyncio.run(go())
