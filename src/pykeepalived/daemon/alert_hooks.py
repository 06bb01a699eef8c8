"""Where the daemon's events meet the e-mail alerts: find the config objects an event is
about, ask the pure rules (``alerts.rules``) whether keepalived would mail, queue the mail.

Rules: L4 glue, no decisions of its own. Each hook takes the config in force when the event
happened (a reload's new config reaches the hooks with the next event) and never raises
into its caller: VRRP and the checkers go on whatever the mail does. The checker and quorum
hooks are in ``alert_hooks_lvs`` (imported with the LVS half, not at VRRP's start).
"""

import functools
import getpass
import logging
import socket
from collections.abc import Callable
from typing import ParamSpec

from pykeepalived.alerts.rules import MailSettings, settings, vrrp_alert
from pykeepalived.alerts.smtp import Mailer
from pykeepalived.config.model import KeepalivedConfig
from pykeepalived.config.model_global import GlobalDefs

log = logging.getLogger("pykeepalived.smtp")
P = ParamSpec("P")
_SETTINGS: dict[int, tuple[GlobalDefs, MailSettings | None]] = {}


def mail_settings(config: KeepalivedConfig) -> MailSettings | None:
    """The config's ``MailSettings`` (None: no mail), worked out once per config."""
    g = config.global_defs
    cached = _SETTINGS.get(id(g))
    if cached is not None and cached[0] is g:
        return cached[1]
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "root"
    try:
        found = settings(g, hostname=socket.gethostname(), user=user)
    except ValueError as exc:
        log.error("SMTP alerts off: %s", exc)
        found = None
    _SETTINGS.clear()  # one config at a time: the old one goes with a reload
    _SETTINGS[id(g)] = (g, found)
    return found


def guarded(hook: Callable[P, None]) -> Callable[P, None]:
    """A bug in a hook is logged with its traceback; it never stops VRRP or a checker."""

    @functools.wraps(hook)
    def run(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            hook(*args, **kwargs)
        except Exception:
            log.exception("SMTP alert hook %s failed; no mail for this event", hook.__name__)

    return run


@guarded
def on_vrrp_state(mailer: Mailer, config: KeepalivedConfig, kind: str, name: str,
                  state: str) -> None:  # fmt: skip
    """A notified VRRP state change (``kind`` INSTANCE or GROUP, ``state`` MASTER...)."""
    mail = mail_settings(config)
    if mail is None:
        return
    holders = config.vrrp_instance if kind == "INSTANCE" else config.vrrp_sync_group
    own = next((h.smtp_alert for h in holders if h.name == name), None)
    mailer.submit(mail, vrrp_alert(config, kind, name, state, own))
