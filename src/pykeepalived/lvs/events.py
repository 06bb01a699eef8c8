"""notify_up / notify_down / quorum_up / quorum_down: which scripts a change of state runs.

Rules: pure. Given the config, the real servers' health and the quorum states before and
after a change, return the scripts to run, in keepalived's order; the daemon runs them
(``notify.py``). It never runs anything and keeps no state: the caller passes both sides.

keepalived facts (``check/ipwrapper.c``, ``core/notify.c``, read for facts):

* The scripts get no arguments of their own: ``notify_exec`` runs the configured command line
  as written (``system_call_script``), as the configured user. Say what happened in the
  command line itself, as keepalived's man page example does.
* A real server's script runs when its state changes (``perform_svr_state`` ->
  ``do_rs_notifies``), before the quorum is looked at again (``update_quorum_state``), so a
  real server's script comes before its virtual server's quorum script.
* A checker's first result: an ``alpha`` real server runs its script whatever the result
  (down: ``notify_down`` although it already counted as down); a non-alpha one only when the
  first result is a failure (``update_svr_checker_state``, ``has_run``). Here a real server
  absent from ``before`` has had no result yet; present in ``after``, it has.
* Start (``before_quorum`` None, or a virtual server absent from it): ``init_service_vs``
  calls ``update_quorum_state(vs, init=true)``: quorum reached runs ``quorum_up``; not reached
  runs ``quorum_down`` only when a ``sorry_server`` is configured (the "add the sorry server"
  branch); otherwise nothing.
* Shutdown (``shutdown``): only virtual servers with ``omega`` run scripts: ``notify_down``
  for every real server still alive, then ``quorum_down`` whatever the quorum state was
  (``clear_service_rs``, ``update_vs_notifies`` with ``stopping``).

Not done: ``global_defs`` ``rs_init_notifies`` (scripts for real servers alive at start),
the notify FIFOs' ``RS``/``VS`` lines, SMTP alerts.
"""

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from pykeepalived.config.model import KeepalivedConfig
from pykeepalived.config.model_common import Script
from pykeepalived.config.model_lvs import RealServer, VirtualServer
from pykeepalived.lvs.desired import Health, RealServerId, real_server_id


class Hook(enum.Enum):
    NOTIFY_UP = "notify_up"
    NOTIFY_DOWN = "notify_down"
    QUORUM_UP = "quorum_up"
    QUORUM_DOWN = "quorum_down"


@dataclass(frozen=True, slots=True, kw_only=True)
class ScriptRun:
    """One script to run: the configured command line and user, and why."""

    hook: Hook
    script: Script
    virtual_server: str
    real_server: RealServerId | None = None


def scripts(
    config: KeepalivedConfig,
    before: Mapping[RealServerId, Health],
    after: Mapping[RealServerId, Health],
    before_quorum: Mapping[str, bool] | None,
    after_quorum: Mapping[str, bool],
) -> list[ScriptRun]:
    """The scripts a change from (before, before_quorum) to (after, after_quorum) runs.

    ``before``/``after`` hold the servers that have had a result (see the module rules);
    ``before_quorum`` is None at start. ``after_quorum`` is ``DesiredState.quorum_up``.
    """
    out: list[ScriptRun] = []
    for vs in config.virtual_server:
        for rs in vs.real_server:
            rid = real_server_id(vs, rs)
            hook = _server_hook(vs, rs, before.get(rid), after.get(rid))
            _add(out, hook, _server_script(rs, hook), vs, rid)
        was = None if before_quorum is None else before_quorum.get(vs.id)
        now = after_quorum.get(vs.id)
        if now is not None:
            hook = _quorum_hook(vs, was, now)
            _add(out, hook, vs.quorum_up if hook is Hook.QUORUM_UP else vs.quorum_down, vs, None)
    return out


def shutdown_scripts(
    config: KeepalivedConfig, health: Mapping[RealServerId, Health]
) -> list[ScriptRun]:
    """What keepalived runs when it stops: only for virtual servers with ``omega``."""
    out: list[ScriptRun] = []
    for vs in config.virtual_server:
        if not vs.omega:
            continue
        for rs in vs.real_server:
            rid = real_server_id(vs, rs)
            if _state(vs, rs, health.get(rid)):
                _add(out, Hook.NOTIFY_DOWN, rs.notify_down, vs, rid)
        _add(out, Hook.QUORUM_DOWN, vs.quorum_down, vs, None)
    return out


def _add(
    out: list[ScriptRun],
    hook: Hook | None,
    script: Script | None,
    vs: VirtualServer,
    rid: RealServerId | None,
) -> None:
    if hook is not None and script is not None:
        out.append(ScriptRun(hook=hook, script=script, virtual_server=vs.id, real_server=rid))


def _alpha(vs: VirtualServer, rs: RealServer) -> bool:
    """Mirrors ``lvs.desired``: a real server without checkers is always alive."""
    if not rs.checkers:
        return False
    return rs.alpha if rs.alpha is not None else vs.alpha


def _state(vs: VirtualServer, rs: RealServer, health: Health | None) -> bool:
    return health.up if health is not None else not _alpha(vs, rs)


def _server_hook(
    vs: VirtualServer, rs: RealServer, before: Health | None, after: Health | None
) -> Hook | None:
    if after is None:
        return None
    was, now = _state(vs, rs, before), after.up
    first = before is None
    if was != now or (first and _alpha(vs, rs)):
        return Hook.NOTIFY_UP if now else Hook.NOTIFY_DOWN
    return None


def _server_script(rs: RealServer, hook: Hook | None) -> Script | None:
    return rs.notify_up if hook is Hook.NOTIFY_UP else rs.notify_down


def _quorum_hook(vs: VirtualServer, was: bool | None, now: bool) -> Hook | None:
    if was is None:  # start: keepalived's update_quorum_state(vs, init=true)
        if now:
            return Hook.QUORUM_UP
        return Hook.QUORUM_DOWN if vs.sorry_server is not None else None
    if was == now:
        return None
    return Hook.QUORUM_UP if now else Hook.QUORUM_DOWN
