"""E-mail alerts from real daemons (VRRPv3, advert_int 0.05) to an SMTP server in the lab.

The SMTP sink (``tests/smtpsink.py``) listens inside the observer's namespace (192.168.88.2),
so the daemons reach it over the bridge as they would a mail relay. Each director says who it
is in its HELO (``smtp_helo_name``). keepalived mails every notified state change of an
instance (BACKUP at start, MASTER, ``Stopping`` on shutdown) with ``[router_id]`` first; an
unreachable server costs a log line and nothing else.
"""

import signal
import time
from collections.abc import Iterator

import pytest
from tests.kernel.nsutil import inside
from tests.smtpsink import Mail, SmtpSink, listening

from .vrrplab import ADDRESSES, VIP, VrrpLab, config, instance_conf, start_pair, vrrp_lab

pytestmark = pytest.mark.root
SUBJECT = "[LAB] VRRP Instance HA_WebServer - "


@pytest.fixture
def lab() -> Iterator[VrrpLab]:
    with vrrp_lab() as network:
        yield network


def mail_defs(host: str, server: str, port: int) -> str:
    return (
        "    notification_email {\n        ops@example.com\n    }\n"
        f"    notification_email_from {host}@lab.example\n"
        f"    smtp_server {server} {port}\n    smtp_helo_name {host}\n"
        "    smtp_connect_timeout 1\n    smtp_alert\n"
    )


def subjects(mails: list[Mail], host: str) -> list[str]:
    return [m.header("Subject").removeprefix(SUBJECT) for m in mails if m.helo == host]


def test_failover_mails_master_backup_and_stopping(lab: VrrpLab) -> None:
    with inside(lab.ns["c"]):
        sock = listening(ADDRESSES["c"])
    with SmtpSink(sock) as sink:
        conf = {h: config(instance_conf(priority=p),
                          global_defs=mail_defs(h, ADDRESSES["c"], sink.port))
                for h, p in (("a", 150), ("b", 100))}  # fmt: skip
        start_pair(lab, conf["a"], conf["b"])
        a = lab.daemons[-1]
        sink.wait_mails(3)  # b: BACKUP, MASTER (alone for a moment); a: MASTER at least
        before = len(sink.wait_mails(0))
        t0 = time.monotonic()
        a.kill(signal.SIGTERM)
        lab.watch.wait_for(VIP, "b", after=t0)
        a.proc.wait(timeout=10)
        deadline = time.monotonic() + 5
        while "Entering MASTER state" not in subjects(sink.mails[before:], "b"):
            assert time.monotonic() < deadline, [m.header("Subject") for m in sink.mails]
            time.sleep(0.02)
        mails = list(sink.mails)
    from_a, from_b = subjects(mails, "a"), subjects(mails, "b")
    assert from_b[0] == "Entering BACKUP state"
    assert from_b[-1] == "Entering MASTER state"
    assert from_b[-2] == "Entering BACKUP state"  # a preempted it: in order, one sender
    assert "Entering MASTER state" in from_a
    assert subjects(mails[before:], "a") == ["Stopping"]  # sent during the stop, in its grace
    sample = next(m for m in mails if m.helo == "b")
    assert sample.sender == "<b@lab.example>"
    assert sample.recipients == ["<ops@example.com>"]
    assert sample.body == "=> VRRP Instance is no longer owning VRRP VIPs <="
    for daemon in lab.daemons:
        assert "SMTP alert" in daemon.text()
        assert "not sent" not in daemon.text()


def test_unreachable_server_is_logged_and_failover_goes_on(lab: VrrpLab) -> None:
    """No host at 192.168.88.3: every connect times out after smtp_connect_timeout (1 s);
    the takeover is as quick as without mail, the daemon logs each failure."""
    conf = {h: config(instance_conf(priority=p), global_defs=mail_defs(h, "192.168.88.3", 25))
            for h, p in (("a", 150), ("b", 100))}  # fmt: skip
    start_pair(lab, conf["a"], conf["b"])
    a, b = lab.daemons[-1], lab.daemons[0]
    t0 = time.monotonic()
    a.kill(signal.SIGKILL)
    took = lab.watch.wait_for(VIP, "b", after=t0) - t0
    assert took < 1.0, took  # master down interval ~0.15 s + skew; mail does not delay it
    b.wait_log("not sent to 192.168.88.3 port 25", timeout=5)
    assert "connect: no answer within 1 s" in b.text() or "No route to host" in b.text()
    assert b.proc.poll() is None
