"""Keywords pykeepalived reads but does not act on: a warning at their line, saying what will
not happen.

Why: keepalived.conf files are read unchanged, so every keyword keepalived knows parses here.
A keyword that parses and then does nothing is worse for an operator than an error: a tracked
process that never moves the VIP, a VRF never bound. So each one, where it is written, gets
a warning (code ``unsupported``) naming the consequence; the daemon still starts (keepalived
would have), and ``-t`` lists them. Purely cosmetic keywords (log detail, buffer sizes,
polling methods where netlink serves) are not listed.

When a keyword starts working, its entry goes: ``tests/config/test_unapplied.py`` checks that
every entry names a real field and that no listed field is read outside the config package.
"""

from collections.abc import Iterator, Mapping
from dataclasses import MISSING, dataclass, fields, is_dataclass
from typing import Any

from pykeepalived.config.diagnostics import Diagnostics, Location
from pykeepalived.config.grammar import Where
from pykeepalived.config.model import KeepalivedConfig
from pykeepalived.config.model_check import HttpGet, SslGet
from pykeepalived.config.model_global import GlobalDefs
from pykeepalived.config.model_lvs import VirtualServer
from pykeepalived.config.model_routes import IpRoute, IpRule
from pykeepalived.config.model_vrrp import VrrpInstance, VrrpSyncGroup
from pykeepalived.config.model_vrrp_items import VirtualIp

NO_BFD = "no BFD session runs: nothing follows one"
NO_TRACK_GROUP = "the instances of the track group do not follow this entry"


@dataclass(frozen=True, slots=True)
class Unapplied:
    """``keywords`` of ``owner`` (one warning, at the first given) and what will not happen."""

    owner: type
    keywords: tuple[str, ...]
    consequence: str


UNAPPLIED: tuple[Unapplied, ...] = (
    Unapplied(
        GlobalDefs,
        ("notify_fifo_script", "vrrp_notify_fifo_script"),
        "the FIFO is written, but this script is not started to read it",
    ),
    Unapplied(
        GlobalDefs,
        ("lvs_notify_fifo", "lvs_notify_fifo_script"),
        "no checker or LVS events are written to a FIFO",
    ),
    Unapplied(
        GlobalDefs,
        ("fifo_write_vrrp_states_on_reload",),
        "a reload writes no state lines to the notify FIFO",
    ),
    Unapplied(
        GlobalDefs,
        ("vmac_prefix", "vmac_addr_prefix"),
        "VMAC interfaces keep keepalived's default names",
    ),
    Unapplied(KeepalivedConfig, ("bfd_instance",), NO_BFD),
    Unapplied(
        KeepalivedConfig,
        ("net_namespace", "net_namespace_ipvs"),
        "the daemon runs in the network namespace it was started in",
    ),
    Unapplied(VrrpInstance, ("track_bfd",), NO_BFD),
    Unapplied(
        VrrpInstance,
        ("use_ipvlan",),
        "no ipvlan interface is made: the instance runs on its interface",
    ),
    Unapplied(VrrpInstance, ("use_vmac_addr",), "the VMAC's address is not used for the VIPs"),
    Unapplied(VrrpInstance, ("vrf",), "the instance is not bound to the VRF"),
    Unapplied(
        VrrpInstance, ("old_unicast_checksum",), "unicast adverts carry the RFC checksum only"
    ),
    Unapplied(VrrpSyncGroup, ("track_bfd",), NO_BFD),
    Unapplied(
        VirtualServer,
        ("ha_suspend",),
        "its checkers run (and its table is kept) whether or not this node holds the VIP",
    ),
    Unapplied(HttpGet, ("fast_recovery",), "a recovered server waits for its ordinary checks"),
    Unapplied(SslGet, ("fast_recovery",), "a recovered server waits for its ordinary checks"),
    Unapplied(VirtualIp, ("track_group",), NO_TRACK_GROUP),
    Unapplied(IpRoute, ("track_group",), NO_TRACK_GROUP),
    Unapplied(IpRule, ("track_group",), NO_TRACK_GROUP),
)
_BY_OWNER: Mapping[type, tuple[Unapplied, ...]] = {
    owner: tuple(u for u in UNAPPLIED if u.owner is owner) for owner in {u.owner for u in UNAPPLIED}
}


def check_unapplied(config: KeepalivedConfig, diags: Diagnostics) -> None:
    for obj in _walk(config):
        for entry in _BY_OWNER.get(type(obj), ()):
            found = _given(obj, entry.keywords)
            if found is not None:
                keyword, where = found
                text = f"'{keyword}' is read but pykeepalived does not act on it: "
                diags.warning(where, text + entry.consequence, "unsupported")


def _walk(obj: Any) -> Iterator[Any]:
    """``obj`` and every model object inside it, depth first, in the file's order."""
    if is_dataclass(obj) and not isinstance(obj, type):
        if isinstance(obj, Where):
            return
        yield obj
        for f in fields(obj):
            yield from _walk(getattr(obj, f.name))
    elif isinstance(obj, tuple):
        for item in obj:
            yield from _walk(item)


def _given(obj: Any, keywords: tuple[str, ...]) -> tuple[str, Location] | None:
    """The first of ``keywords`` written for ``obj``, and where: a block knows its keywords
    (``Where``); a line item (an address, a route) has its line and a non-default value."""
    where = getattr(obj, "where", None)
    if isinstance(where, Where):
        for keyword in keywords:
            if keyword in where.keywords:
                return keyword, where.keywords[keyword]
        return None
    location = getattr(obj, "location", None)
    if not isinstance(location, Location):
        return None
    defaults = {f.name: f.default for f in fields(obj) if f.default is not MISSING}
    for keyword in keywords:
        if keyword in defaults and getattr(obj, keyword) != defaults[keyword]:
            return keyword, location
    return None
