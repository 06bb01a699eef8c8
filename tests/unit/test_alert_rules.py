"""keepalived's e-mail alert rules: who mails, on which event, with which words.

Expected subjects and bodies are keepalived's (core/smtp.c smtp_alert, vrrp/vrrp_notify.c,
check/check_tcp.c and friends, check/ipwrapper.c do_vs_notifies); the defaults are
vrrp.c / check_data.c (smtp_alert inheritance) and core/global_data.c (HELO, sender).
"""

from datetime import datetime, timedelta, timezone

import pytest

from pykeepalived.alerts.rules import (
    Alert,
    MailSettings,
    checker_alert,
    envelope,
    message,
    quorum_alert,
    settings,
    vrrp_alert,
)
from pykeepalived.config.loader import load
from pykeepalived.config.model import KeepalivedConfig

MAIL = """
    notification_email {
        ops@example.com
        "Night Shift <night@example.com>"
    }
    smtp_server 10.0.0.25
"""
VRRP = """
vrrp_sync_group VG_1 {
    group {
        VI_1
    }
    %s
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    priority 100
    virtual_ipaddress {
        10.0.0.100
    }
    %s
}
"""
LVS = """
virtual_server 10.0.0.100 80 {
    %s
    real_server 10.0.0.2 8080 {
        %s
        TCP_CHECK {
        }
    }
}
"""


def cfg(
    glob: str = "", group: str = "", inst: str = "", vs: str = "", rs: str = ""
) -> KeepalivedConfig:
    text = f"global_defs {{\n router_id LB1\n{MAIL}\n{glob}\n}}\n"
    text += VRRP % (group, inst) + LVS % (vs, rs)
    result = load("test.conf", text=text)
    assert not result.errors, [d.render() for d in result.errors]
    assert result.config is not None
    return result.config


def mail_of(config: KeepalivedConfig) -> MailSettings:
    found = settings(config.global_defs, hostname="lb1.example.com", user="root")
    assert found is not None
    return found


def test_settings_defaults_are_keepalived_s() -> None:
    m = settings(cfg().global_defs, hostname="lb1.example.com", user="keepalived")
    assert m is not None
    assert (m.server, m.port, m.timeout_s) == ("10.0.0.25", 25, 30.0)
    assert m.helo == "lb1.example.com"  # local name, not "localhost"
    assert m.sender == "keepalived@lb1.example.com"
    assert m.router_id == "LB1"
    assert m.recipients == ("ops@example.com", "Night Shift <night@example.com>")


def test_settings_given_values() -> None:
    glob = "smtp_server 10.0.0.26 2525\nsmtp_helo_name lb\nsmtp_connect_timeout 3\n"
    glob += "notification_email_from lb@example.com"
    m = mail_of(cfg(glob))
    assert (m.server, m.port, m.helo, m.sender, m.timeout_s) == (
        "10.0.0.26", 2525, "lb", "lb@example.com", 3.0)  # fmt: skip


def test_no_mail_without_recipients_or_server() -> None:
    result = load("t.conf", text="global_defs {\n smtp_server 10.0.0.25\n smtp_alert\n}\n")
    assert result.config is not None
    assert settings(result.config.global_defs, hostname="h", user="u") is None
    result = load("t.conf", text="global_defs {\n notification_email {\n a@b\n }\n}\n")
    assert result.config is not None
    assert settings(result.config.global_defs, hostname="h", user="u") is None


def test_vrrp_mails_are_off_unless_asked() -> None:
    assert vrrp_alert(cfg(), "INSTANCE", "VI_1", "MASTER", None) is None


@pytest.mark.parametrize(
    ("state", "subject", "body"),
    [
        ("MASTER", "Entering MASTER state", "=> VRRP Instance is now owning VRRP VIPs <="),
        ("BACKUP", "Entering BACKUP state", "=> VRRP Instance is no longer owning VRRP VIPs <="),
        ("FAULT", "Entering FAULT state", "=> VRRP Instance is no longer owning VRRP VIPs <="),
        ("STOP", "Stopping", "=> VRRP Instance stopping <="),
    ],
)
def test_instance_mail_words(state: str, subject: str, body: str) -> None:
    config = cfg("smtp_alert")
    alert = vrrp_alert(config, "INSTANCE", "VI_1", state, None)
    assert alert == Alert(subject=f"VRRP Instance VI_1 - {subject}", body=body)
    assert mail_of(config).subject(alert) == f"[LB1] VRRP Instance VI_1 - {subject}"


def test_group_mail_words() -> None:
    alert = vrrp_alert(cfg("smtp_alert_vrrp"), "GROUP", "VG_1", "MASTER", None)
    body = "=> All VRRP group instances are now in MASTER state <="
    assert alert == Alert(subject="VRRP Group VG_1 - Entering MASTER state", body=body)


def test_init_sends_nothing() -> None:
    assert vrrp_alert(cfg("smtp_alert"), "INSTANCE", "VI_1", "INIT", None) is None


def test_vrrp_inheritance_own_then_vrrp_then_global() -> None:
    assert vrrp_alert(cfg("smtp_alert"), "INSTANCE", "VI_1", "MASTER", False) is None
    assert vrrp_alert(cfg(), "INSTANCE", "VI_1", "MASTER", True) is not None
    assert vrrp_alert(cfg("smtp_alert\nsmtp_alert_vrrp off"), "INSTANCE", "VI_1", "MASTER",
                      None) is None  # fmt: skip
    assert vrrp_alert(cfg("smtp_alert off\nsmtp_alert_vrrp on"), "GROUP", "VG_1", "BACKUP",
                      None) is not None  # fmt: skip


def test_no_email_faults_drops_fault_only() -> None:
    config = cfg("smtp_alert\nno_email_faults")
    assert vrrp_alert(config, "INSTANCE", "VI_1", "FAULT", None) is None
    assert vrrp_alert(config, "GROUP", "VG_1", "FAULT", None) is None
    assert vrrp_alert(config, "INSTANCE", "VI_1", "BACKUP", None) is not None


def _checker(config: KeepalivedConfig, *, was: bool = True, up: bool = False,
             rs_was: bool = True, rs_now: bool = False) -> Alert | None:  # fmt: skip
    vs = config.virtual_server[0]
    return checker_alert(config, vs, vs.real_server[0], kind="TCP_CHECK", checker_was_up=was,
                         checker_up=up, rs_was_alive=rs_was, rs_alive=rs_now)  # fmt: skip


def test_real_server_mails_by_default() -> None:
    """keepalived's odd default: unset everywhere, a real server alerts (check_data.c)."""
    alert = _checker(cfg())
    assert alert == Alert(
        subject="Realserver [10.0.0.2]:tcp:8080 of virtual server [10.0.0.100]:tcp:80 - DOWN",
        body="=> TCP CHECK failed on service <=",
    )
    up = _checker(cfg(), was=False, up=True, rs_was=False, rs_now=True)
    assert up is not None
    assert up.subject.endswith(" - UP")
    assert up.body == "=> TCP CHECK succeed on service <="


def test_real_server_inheritance() -> None:
    assert _checker(cfg("smtp_alert off")) is None  # given, it counts
    assert _checker(cfg("smtp_alert off\nsmtp_alert_checker")) is not None
    assert _checker(cfg("smtp_alert_checker off")) is None
    assert _checker(cfg("smtp_alert off", rs="smtp_alert on")) is not None


def test_checker_mail_only_on_a_checker_change() -> None:
    assert _checker(cfg(), was=True, up=True, rs_was=True, rs_now=True) is None


def test_no_checker_emails_wants_the_real_server_to_change() -> None:
    config = cfg("no_checker_emails")
    assert _checker(config, rs_was=False, rs_now=False) is None  # another checker was down
    assert _checker(config, rs_was=True, rs_now=False) is not None
    assert _checker(cfg(), rs_was=False, rs_now=False) is not None  # without: every checker


def test_quorum_mails() -> None:
    config = cfg(vs="smtp_alert\nquorum 2\nhysteresis 1")
    vs = config.virtual_server[0]
    lost = quorum_alert(config, vs, True, False, 0)
    assert lost == Alert(subject="Virtualserver [10.0.0.100]:tcp:80 - DOWN",
                         body="=> Lost quorum 2+1=1 <= 0 <=")  # fmt: skip
    gained = quorum_alert(config, vs, False, True, 3)
    assert gained is not None
    assert gained.body == "=> Gained quorum 2+1=3 <= 3 <="
    start = quorum_alert(config, vs, None, True, 1)
    assert start is not None
    assert start.body == "=> Starting with quorum up 2+1=3 <= 1 <="
    assert quorum_alert(config, vs, None, False, 0) is None  # no sorry server: nothing
    assert quorum_alert(config, vs, True, True, 1) is None
    assert quorum_alert(cfg(), cfg().virtual_server[0], True, False, 0) is None  # default off


def test_message_headers_and_envelope() -> None:
    config = cfg('notification_email_from "LB <lb@example.com>"')
    m = mail_of(config)
    now = datetime(2026, 11, 26, 15, 0, 5, tzinfo=timezone(timedelta(hours=1)))
    alert = Alert(subject="VRRP Instance VI_1 - Entering MASTER state", body="=> x <=")
    text = message(m, alert, now)
    assert text == (
        "Date: Thu, 26 Nov 2026 15:00:05 +0100\r\n"
        "From: LB <lb@example.com>\r\n"
        "Subject: [LB1] VRRP Instance VI_1 - Entering MASTER state\r\n"
        "X-Mailer: Keepalived (pykeepalived)\r\n"
        "To: ops@example.com,\r\n Night Shift <night@example.com>\r\n"
        "\r\n=> x <=\r\n"
    )
    assert envelope(m.sender) == "lb@example.com"
    assert envelope("ops@example.com") == "ops@example.com"


def test_settings_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="recipient"):
        MailSettings(server="s", port=25, helo="h", sender="f", recipients=(), timeout_s=1,
                     router_id="r")  # fmt: skip
