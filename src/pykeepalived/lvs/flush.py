"""When the LVS side empties the whole data plane: ``lvs_flush`` and ``lvs_flush_on_stop``.

Rules: pure; reads global_defs only. keepalived 2.2.7 (check_daemon.c, ipwrapper.c): with
``lvs_flush`` the checker's first start (never a reload) flushes the IPVS table before any
service is added; at stop, ``lvs_flush_on_stop`` flushes the whole table in one command instead
of removing each virtual server, and ``lvs_flush_on_stop VS`` removes each configured virtual
server without removing its real servers first (the kernel takes them with it). Both act only
when the config has virtual servers (keepalived starts no checker process otherwise; nor do we
start the LVS side).

Our default stop already removes each virtual server without its real servers (one delete per
service), so ``VS`` sends what the default does; only ``FULL`` differs: services that are not
ours go too.
"""

import enum
from dataclasses import dataclass

from pykeepalived.config.model_global import GlobalDefs


class StopFlush(enum.Enum):
    NONE = "none"  # remove each service we made (default)
    VS = "VS"  # the same on our side: each virtual server, its real servers with it
    FULL = "full"  # flush the whole table, ours or not


@dataclass(frozen=True, slots=True, kw_only=True)
class FlushPolicy:
    at_start: bool
    at_stop: StopFlush


def flush_policy(g: GlobalDefs) -> FlushPolicy:
    if g.lvs_flush_on_stop is None:
        at_stop = StopFlush.NONE
    elif g.lvs_flush_on_stop == ("VS",):
        at_stop = StopFlush.VS
    else:
        at_stop = StopFlush.FULL
    return FlushPolicy(at_start=g.lvs_flush, at_stop=at_stop)
