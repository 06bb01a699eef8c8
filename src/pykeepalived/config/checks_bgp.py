"""Semantic checks of ``bgp_speaker`` against the virtual servers (see ``checks``).

Active-active directors must pick the same real server for a flow, whichever director the
router sends it to: a hash of the flow (``lb_algo mh`` with ``mh-port``, so that one client's
connections spread too), never a per-director counter or connection count. A VIP announced
with no virtual server on it is announced for nothing (unless its gate is ``always``).
"""

from pykeepalived.config.diagnostics import Diagnostics, Location
from pykeepalived.config.model import KeepalivedConfig

UNKNOWN = Location(file="?", line=0)
HASHED = ("mh", "sh")


def check_bgp(config: KeepalivedConfig, diags: Diagnostics) -> None:
    bgp = config.bgp_speaker
    if bgp is None:
        return
    vips = {vs.ip for vs in config.virtual_server if vs.ip is not None}
    if not config.virtual_server:
        message = "bgp_speaker without any virtual_server: nothing is announced (the BGP side "
        diags.warning(bgp.where.block or UNKNOWN, message + "runs with the LVS side)", "bgp")
        return
    for line in bgp.announce or ():
        if line.gate != "always" and line.vip not in vips:
            message = f"announce {line.vip}: no virtual_server has this address; never announced"
            diags.warning(line.location or UNKNOWN, message, "reference")
    announced = {line.vip for line in bgp.announce} if bgp.announce is not None else vips
    for vs in config.virtual_server:
        if vs.ip not in announced:
            continue
        where = vs.where.of("lvs_sched") or vs.where.block or UNKNOWN
        if vs.lvs_sched not in HASHED:
            message = (
                f"virtual_server {vs.id} is announced over BGP with lb_algo {vs.lvs_sched}: "
                "active-active directors need 'lb_algo mh' (with mh-port) to pick the same "
                "real server for a flow"
            )
            diags.warning(where, message, "bgp")
        elif not (vs.mh_port or vs.sh_port):
            message = (
                f"virtual_server {vs.id}: without {vs.lvs_sched}-port every connection of one "
                "client goes to one real server"
            )
            diags.warning(where, message, "bgp")
