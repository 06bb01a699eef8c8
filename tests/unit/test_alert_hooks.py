"""The daemon's alert hooks: a checker event, applied to the real HealthBook of a config, mails
what keepalived would; a VRRP change finds the instance's own ``smtp_alert``.

The Mailer is real; its ``sender`` is a recording fake (named so), the SMTP side is covered by
``tests/loopback/test_smtp_alerts.py``.
"""

import asyncio
from datetime import datetime
from ipaddress import ip_address

import pytest

from pykeepalived.alerts.rules import Alert, MailSettings
from pykeepalived.alerts.smtp import Mailer
from pykeepalived.check.from_config import CheckerKey, RealServerKey, build
from pykeepalived.check.hysteresis import CheckerDown, CheckerUp
from pykeepalived.check.spec import CheckEvent, ProbeResult
from pykeepalived.config.loader import load
from pykeepalived.config.model import KeepalivedConfig
from pykeepalived.daemon.alert_hooks import on_vrrp_state
from pykeepalived.daemon.alert_hooks_lvs import checker_before, on_checker, on_quorum

CONF = """
global_defs {
    router_id LB1
    notification_email {
        ops@example.com
    }
    smtp_server 127.0.0.1
    %s
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    priority 100
    smtp_alert off
    virtual_ipaddress {
        10.0.0.100
    }
}
virtual_server 10.0.0.100 80 {
    smtp_alert
    real_server 10.0.0.2 80 {
        TCP_CHECK {
        }
        HTTP_GET {
            url {
                path /
                status_code 200
            }
        }
    }
}
"""


def cfg(glob: str = "") -> KeepalivedConfig:
    result = load("t.conf", text=CONF % glob)
    assert not result.errors, [d.render() for d in result.errors]
    assert result.config is not None
    return result.config


def subjects(run: object) -> list[str]:
    """Run ``run(mailer)`` with a started Mailer whose sender (a fake) records subjects."""
    sent: list[str] = []

    async def record(mail: MailSettings, alert: Alert, now: datetime) -> None:  # fake sender
        sent.append(mail.subject(alert))

    async def go() -> None:
        mailer = Mailer(sender=record)
        mailer.start()
        run(mailer)  # type: ignore[operator]
        await mailer.close(1.0)

    asyncio.run(go())
    return sent


def event(kind: str, up: bool) -> CheckEvent:
    rs = RealServerKey("10.0.0.100:80/TCP", ip_address("10.0.0.2"), 80)
    change = (CheckerUp(at=1.0, initial=False, reason="ok") if up
              else CheckerDown(at=1.0, initial=False, reason="refused", failures=1))  # fmt: skip
    return CheckEvent(key=CheckerKey(rs, kind, 0), event=change,
                      result=ProbeResult(ok=up, reason="x"))  # fmt: skip


def test_checker_events_through_the_health_book() -> None:
    config = cfg()
    book = build(config).health_book()

    def run(mailer: Mailer) -> None:
        for ev in (event("TCP_CHECK", False), event("HTTP_GET", False), event("TCP_CHECK", True)):
            before = checker_before(book, ev.key)
            assert before is not None
            book.apply(ev.key, [ev.event])
            on_checker(mailer, config, book, ev, before)

    rs = "Realserver [10.0.0.2]:tcp:80 of virtual server [10.0.0.100]:tcp:80"
    # every checker change mails; the real server stays down until both are up again
    assert subjects(run) == [f"[LB1] {rs} - DOWN"] * 3


def test_no_checker_emails_mails_only_the_real_server_s_changes() -> None:
    config = cfg("no_checker_emails")
    book = build(config).health_book()

    def run(mailer: Mailer) -> None:
        for ev in (event("TCP_CHECK", False), event("HTTP_GET", False), event("TCP_CHECK", True),
                   event("HTTP_GET", True)):  # fmt: skip
            before = checker_before(book, ev.key)
            assert before is not None
            book.apply(ev.key, [ev.event])
            on_checker(mailer, config, book, ev, before)

    assert [s.rsplit(" - ", 1)[1] for s in subjects(run)] == ["DOWN", "UP"]


def test_quorum_and_vrrp_hooks() -> None:
    config = cfg("smtp_alert")

    def run(mailer: Mailer) -> None:
        vs = "10.0.0.100:80/TCP"
        on_quorum(mailer, config, {vs: True}, {vs: False}, {})
        on_vrrp_state(mailer, config, "INSTANCE", "VI_1", "MASTER")  # its own: off

    assert subjects(run) == ["[LB1] Virtualserver [10.0.0.100]:tcp:80 - DOWN"]


def test_a_failing_hook_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    config = cfg("smtp_alert")

    def run(mailer: Mailer) -> None:
        on_quorum(mailer, config, {}, None, {})  # type: ignore[arg-type]  # a bug's call

    assert subjects(run) == []
    assert "SMTP alert hook on_quorum failed" in caplog.text
