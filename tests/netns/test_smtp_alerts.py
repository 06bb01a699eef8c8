"""E-mail alerts from real daemons (VRRPv3, advert_int 0.05) to an SMTP server in the lab.

The SMTP sink (``tests/smtpsink.py``) listens inside the observer's namespace (192.168.88.2),
so the daemons reach it over the bridge as they would a mail relay. Each director says who it
is in its HELO (``smtp_helo_name``). keepalived mails every notified state change of an
instance (BACKUP at start, MASTER, ``Stopping`` on shutdown) with ``[router_id]`` first; an
unreachable server costs a log line and nothing else.
"""

import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from tests.kernel.nsutil import inside
from tests.smtpsink import Mail, SmtpSink, listening

from .vrrplab import ADDRESSES, VIP, Daemon, VrrpLab, config, instance_conf, start_pair, vrrp_lab

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


def start_with_checkers(lab: VrrpLab, host: str, conf: str) -> Daemon:
    """``lab.start`` runs VRRP only (-P); this one runs the checkers too (nftables: no IPVS)."""
    path, log = lab.tmp / f"{host}-lvs.conf", lab.tmp / f"{host}-lvs.log"
    path.write_text(conf)
    argv = [sys.executable, "-m", "pykeepalived", "-n", "-l", "-D", "-f", str(path),
            "-p", str(lab.tmp / f"{host}-lvs.pid")]  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen(["ip", "netns", "exec", lab.ns[host], *argv], stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)  # fmt: skip
    daemon = Daemon(host=host, ns=lab.ns[host], impl="py", proc=proc, log=log,
                    vrrp_pidfile=lab.tmp / "none")  # fmt: skip
    lab.daemons.append(daemon)
    return daemon


def test_checker_mails_real_server_down_and_up(lab: VrrpLab) -> None:
    """A TCP_CHECK on a real server in the lab (a listening socket in c): its port closed, the
    check fails and mails DOWN; opened again, UP. keepalived's words, its default (a real
    server alerts unless told not to)."""
    with inside(lab.ns["c"]):
        sock = listening(ADDRESSES["c"])
        web = listening(ADDRESSES["c"], 8080)
    lvs = (
        f"virtual_server {VIP} 80 {{\n    protocol TCP\n    delay_loop 0.2\n    lb_kind NAT\n"
        f"    real_server {ADDRESSES['c']} 8080 {{\n"
        "        TCP_CHECK {\n            connect_timeout 0.3\n            retry 0\n        }\n"
        "    }\n}\n"
    )
    with SmtpSink(sock) as sink:
        defs = mail_defs("a", ADDRESSES["c"], sink.port).replace("    smtp_alert\n", "")
        a = start_with_checkers(lab, "a", config(instance_conf(priority=100), lvs,
                                                 global_defs=defs))  # fmt: skip
        a.wait_log("LVS data plane", timeout=10)
        time.sleep(0.5)  # a few checks pass first: no mail for those
        assert not any("Realserver" in m.header("Subject") for m in sink.mails)
        web.close()
        sink.wait_mails(1)
        with inside(lab.ns["c"]):
            web = listening(ADDRESSES["c"], 8080)
        deadline = time.monotonic() + 5
        while sum("Realserver" in m.header("Subject") for m in sink.mails) < 2:
            assert time.monotonic() < deadline, [m.header("Subject") for m in sink.mails]
            time.sleep(0.02)
        mails = [m for m in sink.mails if "Realserver" in m.header("Subject")]
    web.close()
    rs = f"[LAB] Realserver [{ADDRESSES['c']}]:tcp:8080 of virtual server [{VIP}]:tcp:80"
    assert [m.header("Subject") for m in mails] == [f"{rs} - DOWN", f"{rs} - UP"]
    assert [m.body for m in mails] == ["=> TCP CHECK failed on service <=",
                                       "=> TCP CHECK succeed on service <="]  # fmt: skip


def test_same_mails_as_keepalived(lab: VrrpLab) -> None:
    """keepalived 2.2.7 and pykeepalived, same global_defs, each alone on a: the same dialogue
    and the same mails (envelope, From, To, subject, body) for its BACKUP and MASTER."""
    with inside(lab.ns["c"]):
        sock = listening(ADDRESSES["c"])
    seen: dict[str, list[tuple[str, ...]]] = {}
    with SmtpSink(sock) as sink:
        conf = config(instance_conf(priority=100),
                      global_defs=mail_defs("a", ADDRESSES["c"], sink.port))  # fmt: skip
        for impl in ("ka", "py"):
            first = len(sink.mails)
            daemon = lab.start("a", conf, impl=impl)
            mails = sink.wait_mails(first + 2)[first:]
            seen[impl] = [(m.helo, m.sender, *m.recipients, m.header("From"), m.header("To"),
                           m.header("Subject"), m.body.rstrip("\r\n")) for m in mails]  # fmt: skip
            daemon.stop()
            lab.watch.wait_for(VIP, "a", op="del", timeout=5)
    assert seen["py"] == seen["ka"]
    assert [s[-2] for s in seen["py"]] == [SUBJECT + "Entering BACKUP state",
                                           SUBJECT + "Entering MASTER state"]  # fmt: skip
