"""The alert sender against a real SMTP server on 127.0.0.1 (``tests/smtpsink.py``): the
dialogue keepalived speaks, a refusal logged with the server's reply, unreachable and silent
servers bounded by smtp_connect_timeout, a full queue counted, nothing that blocks the caller.
"""

import asyncio
import logging
import socket
import time
from datetime import UTC, datetime

import pytest
from tests.smtpsink import SmtpSink, listening

from pykeepalived.alerts.rules import Alert, MailSettings
from pykeepalived.alerts.smtp import Mailer, SmtpReplyError, send

ALERT = Alert(subject="VRRP Instance VI_1 - Entering MASTER state",
              body="=> VRRP Instance is now owning VRRP VIPs <=\r\n.a line with a dot")  # fmt: skip
NOW = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)


def settings(port: int, timeout_s: float = 2.0) -> MailSettings:
    return MailSettings(server="127.0.0.1", port=port, helo="lb1", sender="LB <lb@example.com>",
                        recipients=("ops@example.com", "b@example.com"), timeout_s=timeout_s,
                        router_id="LB1")  # fmt: skip


def test_one_alert_is_keepalived_s_dialogue() -> None:
    with SmtpSink(listening()) as sink:
        asyncio.run(send(settings(sink.port), ALERT, NOW))
        (mail,) = sink.wait_mails(1)
    verbs = [c.split(" ")[0].split(":")[0] for c in sink.commands]
    assert verbs == ["HELO", "MAIL", "RCPT", "RCPT", "DATA", "QUIT"]
    assert mail.helo == "lb1"
    assert mail.sender == "<lb@example.com>"
    assert mail.recipients == ["<ops@example.com>", "<b@example.com>"]
    assert mail.header("Subject") == "[LB1] VRRP Instance VI_1 - Entering MASTER state"
    assert mail.header("From") == "LB <lb@example.com>"
    assert mail.header("Date") == "Thu, 26 Nov 2026 15:00:00 +0000"
    assert mail.body == "=> VRRP Instance is now owning VRRP VIPs <=\r\n.a line with a dot"


def test_refusal_names_step_and_reply_then_quits() -> None:
    with SmtpSink(listening(), reject={"RCPT": "550 5.1.1 no such user"}) as sink:
        with pytest.raises(
            SmtpReplyError, match=r"RCPT: server replied '550 5\.1\.1 no such user'"
        ):
            asyncio.run(send(settings(sink.port), ALERT, NOW))
        deadline = time.monotonic() + 2
        while "QUIT" not in sink.commands and time.monotonic() < deadline:
            time.sleep(0.01)
    assert sink.commands[-1] == "QUIT"
    assert not sink.mails


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _submit_and_close(mailer: Mailer, mail: MailSettings, n: int, grace: float) -> float:
    mailer.start()
    t0 = time.monotonic()
    for _ in range(n):
        mailer.submit(mail, ALERT)
    submit_s = time.monotonic() - t0
    await mailer.close(grace)
    return submit_s


def test_unreachable_server_is_logged_and_counted(caplog: pytest.LogCaptureFixture) -> None:
    mailer = Mailer()
    with caplog.at_level(logging.INFO, "pykeepalived.smtp"):
        asyncio.run(_submit_and_close(mailer, settings(_closed_port()), 1, grace=2.0))
    assert (mailer.stats.failed, mailer.stats.sent, mailer.stats.dropped) == (1, 0, 0)
    assert "not sent to 127.0.0.1 port" in caplog.text
    assert "Connect call failed" in caplog.text or "refused" in caplog.text


def test_silent_server_times_out_after_smtp_connect_timeout(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A server that accepts and never greets: the step's timer (0.3 s here) ends it."""
    silent = listening()  # listen() and never accept: the kernel completes the handshake
    mailer = Mailer()
    t0 = time.monotonic()
    with caplog.at_level(logging.ERROR, "pykeepalived.smtp"):
        asyncio.run(_submit_and_close(mailer, settings(silent.getsockname()[1], 0.3), 1, 3.0))
    elapsed = time.monotonic() - t0
    silent.close()
    assert mailer.stats.failed == 1
    assert 0.25 < elapsed < 2.5
    assert "greeting: no reply within 0.3 s" in caplog.text


def test_full_queue_drops_are_counted_and_submit_never_blocks(
    caplog: pytest.LogCaptureFixture,
) -> None:
    silent = listening()
    mailer = Mailer(max_queue=3, workers=1)
    with caplog.at_level(logging.ERROR, "pykeepalived.smtp"):
        submit_s = asyncio.run(
            _submit_and_close(mailer, settings(silent.getsockname()[1], 5.0), 10, grace=0.2)
        )
    silent.close()
    assert submit_s < 0.05
    # the worker has not run yet: 3 queued, 7 dropped at once, the 3 others at close
    assert mailer.stats.submitted == 10
    assert mailer.stats.dropped == 10
    assert mailer.stats.sent == mailer.stats.failed == 0
    assert "3 alerts are already waiting" in caplog.text
    assert "3 alert(s) not sent at stop" in caplog.text


def test_alerts_arrive_all_and_in_order() -> None:
    async def go(mailer: Mailer, mail: MailSettings) -> None:
        mailer.start()
        for n in range(20):
            mailer.submit(mail, Alert(subject=f"alert {n}", body="=> x <="))
        await mailer.close(5.0)

    with SmtpSink(listening()) as sink:
        mailer = Mailer()
        asyncio.run(go(mailer, settings(sink.port)))
        mails = sink.wait_mails(20)
    assert mailer.stats.sent == 20
    assert [m.header("Subject") for m in mails] == [f"[LB1] alert {n}" for n in range(20)]
