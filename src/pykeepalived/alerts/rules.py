"""keepalived's e-mail alerts: which event sends a mail, and the mail's words.

Rules: pure. Given the config and one event (a VRRP state change, a checker's verdict, a
virtual server's quorum), say whether keepalived would send a mail and render its subject and
body; ``message`` turns an alert into the bytes of the DATA phase. No socket, no clock (the
caller passes ``now``), no state: the caller passes what was before and what is now.

keepalived facts (``core/smtp.c``, ``vrrp/vrrp_notify.c``, ``check/check_*.c``,
``check/ipwrapper.c``, ``check/check_data.c``, ``vrrp/vrrp.c``, ``core/global_data.c``; read
for facts, not copied):

* Nothing is sent without both ``notification_email`` and ``smtp_server``.
* Who sends: an object's own ``smtp_alert``; not given, ``smtp_alert_vrrp`` (instances, sync
  groups) or ``smtp_alert_checker`` (virtual and real servers); not given, the global
  ``smtp_alert``; not given, off, except for a real server, which then alerts (keepalived
  notes the inconsistency and keeps it).
* VRRP: every notified state change of an instance or sync group to MASTER, BACKUP, FAULT or
  STOP (shutdown) mails ``[router_id] VRRP Instance NAME - Entering MASTER state``
  (``VRRP Group NAME`` for a group), including the first BACKUP at start; ``no_email_faults``
  drops the FAULT ones.
* Checkers: a checker that changes state mails ``[router_id] Realserver [ip]:tcp:port of
  virtual server VS - UP`` (UP/DOWN: the real server's state after the change); with
  ``no_checker_emails`` only when the real server's own state changed too.
* Quorum: a virtual server whose quorum changes mails ``[router_id] Virtualserver VS - UP``;
  at start, quorum up always, quorum down only with a sorry server (as the quorum scripts).
* The DATA: ``Date``, ``From``, ``Subject``, ``X-Mailer``, ``To`` (all recipients), a blank
  line, the body. Envelope addresses are the part in ``<...>`` when one is written.
"""

import email.utils
from dataclasses import dataclass
from datetime import datetime

from pykeepalived.config.model import KeepalivedConfig
from pykeepalived.config.model_global import GlobalDefs
from pykeepalived.config.model_lvs import RealServer, VirtualServer

VRRP_STATES = {
    "MASTER": ("Entering MASTER state", "is now owning VRRP VIPs", "now in MASTER state"),
    "BACKUP": ("Entering BACKUP state", "is no longer owning VRRP VIPs", "now in BACKUP state"),
    "FAULT": ("Entering FAULT state", "is no longer owning VRRP VIPs", "now in FAULT state"),
    "STOP": ("Stopping", "stopping", "now stopping"),
}
CHECKER_WORDS = {  # keepalived's body per checker type: (succeeded, failed)
    "TCP_CHECK": ("=> TCP CHECK succeed on service <=", "=> TCP CHECK failed on service <="),
    "UDP_CHECK": ("=> UDP CHECK succeed on service <=", "=> UDP CHECK failed on service <="),
    "PING_CHECK": ("=> ICMP CHECK succeed on service <=", "=> ICMP CHECK failed on service <="),
    "DNS_CHECK": ("=> DNS_CHECK: succeed on service <=", "=> DNS_CHECK: failed on service <="),
    "HTTP_GET": (
        "=> CHECK succeed on service <=",
        "=> CHECK failed on service : HTTP/SSL request failed <=",
    ),
    "MISC_CHECK": ("=> MISC CHECK succeeded on service <=", "=> MISC CHECK failed on service <="),
    "SMTP_CHECK": ("=> CHECK succeed on service <=", "=> CHECK failed on service <="),
}
CHECKER_WORDS["SSL_GET"] = CHECKER_WORDS["HTTP_GET"]
X_MAILER = "Keepalived (pykeepalived)"


@dataclass(frozen=True, slots=True, kw_only=True)
class MailSettings:
    """Where and as whom alerts go (``global_defs``, with keepalived's defaults filled in)."""

    server: str
    port: int
    helo: str
    sender: str
    recipients: tuple[str, ...]
    timeout_s: float
    router_id: str

    def __post_init__(self) -> None:
        if not self.recipients:
            raise ValueError("an alert needs at least one recipient")
        if self.timeout_s <= 0:
            raise ValueError("smtp_connect_timeout must be positive")

    def subject(self, alert: "Alert") -> str:
        return f"[{self.router_id}] {alert.subject}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Alert:
    """One mail: keepalived's subject after ``[router_id] `` (``MailSettings.subject`` adds
    it) and body."""

    subject: str
    body: str


def settings(g: GlobalDefs, *, hostname: str, user: str) -> MailSettings | None:
    """None when keepalived sends nothing (no recipient or no server). ``hostname`` and
    ``user`` give keepalived's defaults: HELO name and router_id the host name, sender
    ``user@hostname``."""
    if not g.notification_email or g.smtp_server is None:
        return None
    return MailSettings(
        server=g.smtp_server.address,
        port=g.smtp_server.port,
        helo=g.smtp_helo_name or hostname,
        sender=g.notification_email_from or f"{user}@{hostname}",
        recipients=g.notification_email,
        timeout_s=float(g.smtp_connect_timeout),
        router_id=g.router_id or hostname,
    )


def _default(g: GlobalDefs, own: bool | None, family: bool | None, otherwise: bool) -> bool:
    if own is not None:
        return own
    if family is not None:
        return family
    if "smtp_alert" in g.where.keywords:
        return g.smtp_alert
    return otherwise


def vrrp_alert(
    config: KeepalivedConfig, kind: str, name: str, state: str, own: bool | None
) -> Alert | None:
    """The mail for instance (``kind`` INSTANCE) or sync group (GROUP) ``name`` entering
    ``state``; ``own`` is its ``smtp_alert``. None: keepalived sends none."""
    g = config.global_defs
    words = VRRP_STATES.get(state)
    if words is None or not _default(g, own, g.smtp_alert_vrrp, False):
        return None
    if state == "FAULT" and g.no_email_faults:
        return None
    subject, instance_text, group_text = words
    if kind == "GROUP":
        head = f"VRRP Group {name}"
        body = f"=> All VRRP group instances are {group_text} <="
    else:
        head = f"VRRP Instance {name}"
        body = f"=> VRRP Instance {instance_text} <="
    return Alert(subject=f"{head} - {subject}", body=body)


def checker_alert(
    config: KeepalivedConfig,
    vs: VirtualServer,
    rs: RealServer,
    *,
    kind: str,
    checker_was_up: bool,
    checker_up: bool,
    rs_was_alive: bool,
    rs_alive: bool,
) -> Alert | None:
    """The mail for one checker's verdict on ``rs`` (``kind``: its keyword, ``TCP_CHECK``)."""
    g = config.global_defs
    if checker_was_up == checker_up:
        return None
    if not _default(g, rs.smtp_alert, g.smtp_alert_checker, True):
        return None
    if g.no_checker_emails and rs_was_alive == rs_alive:
        return None
    ok, failed = CHECKER_WORDS.get(kind, ("=> CHECK succeed on service <=",
                                          "=> CHECK failed on service <="))  # fmt: skip
    subject = (
        f"Realserver {format_rs(vs, rs)} of virtual server {format_vs(vs)}"
        f" - {'UP' if rs_alive else 'DOWN'}"
    )
    return Alert(subject=subject, body=ok if checker_up else failed)


def quorum_alert(
    config: KeepalivedConfig, vs: VirtualServer, was: bool | None, up: bool, weight_sum: int
) -> Alert | None:
    """The mail for a quorum change of ``vs`` (``was`` None: the start); ``weight_sum`` is the
    weight of its live real servers, which keepalived's body quotes."""
    g = config.global_defs
    if was == up or not _default(g, vs.smtp_alert, g.smtp_alert_checker, False):
        return None
    if was is None and not up and vs.sorry_server is None:
        return None
    start = "Starting with quorum " + ("up" if up else "down")
    what = start if was is None else ("Gained quorum" if up else "Lost quorum")
    threshold = vs.quorum + vs.hysteresis if up else vs.quorum - vs.hysteresis
    body = f"=> {what} {vs.quorum}+{vs.hysteresis}={threshold} <= {weight_sum} <="
    subject = f"Virtualserver {format_vs(vs)} - {'UP' if up else 'DOWN'}"
    return Alert(subject=subject, body=body)


def format_vs(vs: VirtualServer) -> str:
    """keepalived's ``FMT_VS``: ``[10.0.0.1]:tcp:80``, ``FWM 5``, ``[group]:80``."""
    if vs.group is not None:
        return f"[{vs.group}]:{vs.port or 0}"
    if vs.fwmark is not None:
        return f"FWM {vs.fwmark}"
    return f"[{vs.ip}]:{vs.protocol.lower()}:{vs.port or 0}"


def format_rs(vs: VirtualServer, rs: RealServer) -> str:
    """keepalived's ``FMT_RS``: the address, the virtual server's protocol, the port."""
    port = rs.port if rs.port is not None else vs.port or 0
    return f"[{rs.ip}]:{vs.protocol.lower()}:{port}"


def envelope(address: str) -> str:
    """The address the envelope carries: ``a@b`` out of ``Name <a@b>``."""
    if address.endswith(">") and "<" in address:
        return address[address.rindex("<") + 1 : -1]
    return address


def message(mail: MailSettings, alert: Alert, now: datetime) -> str:
    """The DATA of one alert (headers and body, CRLF lines), ``now`` an aware local time."""
    headers = [
        f"Date: {email.utils.format_datetime(now)}",
        f"From: {mail.sender}",
        f"Subject: {mail.subject(alert)}",
        f"X-Mailer: {X_MAILER}",
        "To: " + ",\r\n ".join(mail.recipients),
    ]
    return "\r\n".join(headers) + "\r\n\r\n" + alert.body + "\r\n"
