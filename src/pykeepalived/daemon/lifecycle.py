"""global_defs' startup_script and shutdown_script, as keepalived's core/main.c runs them.

The first runs before VRRP and the checkers start, the second once they have stopped (VIPs,
routes and services removed); each is waited for up to its timeout, then SIGTERM, SIGKILL
2 s later; a SIGTERM to the daemon during the startup script starts nothing. They run as the
notify scripts' user (``script_user`` unless the line names one), refused when insecure under
``enable_script_security``. A failure is logged and the start or stop goes on; a reload runs
neither.
"""

import logging

from pykeepalived.config.model_common import Script
from pykeepalived.notify import ScriptRunner, ScriptSpec

log = logging.getLogger("pykeepalived")
TERM_GRACE_S = 2.0  # keepalived's start/shutdown script timeout: SIGTERM, SIGKILL 2 s later


async def lifecycle_script(
    scripts: ScriptRunner, script: Script | None, timeout_s: int, kind: str
) -> None:
    """Run ``script`` (``kind``: "startup" or "shutdown") and wait for it, bounded."""
    if script is None:
        return
    log.info("Running %s script %s", kind, script.command)
    spec = ScriptSpec(command=script.command, username=script.username,
                      groupname=script.groupname)  # fmt: skip
    code = await scripts.run(spec, why=f"{kind} script", timeout_s=float(timeout_s),
                             term_grace_s=TERM_GRACE_S)  # fmt: skip
    if code == 0:
        log.info("%s script succeeded", kind)
