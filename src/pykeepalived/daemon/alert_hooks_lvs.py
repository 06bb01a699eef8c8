"""The checker and quorum hooks of the e-mail alerts (see ``alert_hooks``), used by
``lvs_side``: the real server or virtual server an event is about, keepalived's rule, the mail.

Rules: L4 glue, no decisions of its own; never raises into the checkers.
"""

from collections.abc import Hashable, Mapping

from pykeepalived.alerts.rules import checker_alert, quorum_alert
from pykeepalived.alerts.smtp import Mailer
from pykeepalived.check.aggregate import HealthBook
from pykeepalived.check.from_config import CheckerKey
from pykeepalived.check.hysteresis import CheckerDown, CheckerUp
from pykeepalived.check.runner import CheckEvent
from pykeepalived.config.model import KeepalivedConfig
from pykeepalived.config.model_lvs import RealServer, VirtualServer
from pykeepalived.daemon.alert_hooks import guarded, mail_settings
from pykeepalived.lvs.desired import Health, RealServerId, real_server_id


def checker_before(book: HealthBook, key: Hashable) -> tuple[bool, bool] | None:
    """(checker up, real server alive) before ``key``'s event is applied; None: unknown."""
    if not isinstance(key, CheckerKey):
        return None
    try:
        health = book.server(key.real_server)
    except KeyError:
        return None
    return key not in health.down_checkers, health.alive


@guarded
def on_checker(mailer: Mailer, config: KeepalivedConfig, book: HealthBook, event: CheckEvent,
               before: tuple[bool, bool]) -> None:  # fmt: skip
    """A checker's event, applied to ``book``; ``before`` from ``checker_before``."""
    mail = mail_settings(config)
    key = event.key
    if mail is None or not isinstance(key, CheckerKey):
        return
    if not isinstance(event.event, CheckerUp | CheckerDown):
        return  # a weight change: keepalived mails none
    found = _real_server(config, key)
    if found is None:
        return
    vs, rs = found
    alert = checker_alert(
        config, vs, rs,
        kind=key.kind,
        checker_was_up=before[0],
        checker_up=isinstance(event.event, CheckerUp),
        rs_was_alive=before[1],
        rs_alive=book.server(key.real_server).alive,
    )  # fmt: skip
    mailer.submit(mail, alert)


@guarded
def on_quorum(
    mailer: Mailer,
    config: KeepalivedConfig,
    before: Mapping[str, bool] | None,
    after: Mapping[str, bool],
    health: Mapping[RealServerId, Health],
) -> None:
    """Quorum states before (None: the start) and after one reconcile."""
    mail = mail_settings(config)
    if mail is None:
        return
    for vs in config.virtual_server:
        up = after.get(vs.id)
        if up is None:
            continue
        was = None if before is None else before.get(vs.id)
        weight_sum = 0
        for rs in vs.real_server:
            h = health.get(real_server_id(vs, rs))
            if h is not None and h.up:
                weight_sum += rs.weight if h.weight is None else h.weight
        mailer.submit(mail, quorum_alert(config, vs, was, up, weight_sum))


def _real_server(
    config: KeepalivedConfig, key: CheckerKey
) -> tuple[VirtualServer, RealServer] | None:
    rsk = key.real_server
    for vs in config.virtual_server:
        if vs.id != rsk.virtual_server:
            continue
        for rs in vs.real_server:
            rid = real_server_id(vs, rs)
            if rid.address == rsk.address and rid.port == rsk.port:
                return vs, rs
    return None
