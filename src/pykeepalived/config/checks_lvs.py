"""Semantic checks of the LVS side (see ``checks`` for the rules)."""

from pykeepalived.config.diagnostics import Diagnostics, Location
from pykeepalived.config.model import KeepalivedConfig
from pykeepalived.config.model_check import BfdCheck
from pykeepalived.config.model_lvs import RealServer, VirtualServer

UNKNOWN = Location(file="?", line=0)


def _at(where: Location | None) -> Location:
    return where or UNKNOWN


def check_lvs(config: KeepalivedConfig, diags: Diagnostics) -> None:
    groups = {g.name: g for g in config.virtual_server_group}
    seen: dict[tuple[str, str], Location] = {}
    for vs in config.virtual_server:
        where = _at(vs.where.of("ip") if vs.ip is not None else vs.where.block)
        key = (vs.key, vs.protocol)
        if key in seen:
            message = f"virtual_server {vs.key} {vs.protocol} defined twice (first at line "
            diags.error(where, message + f"{seen[key].line})", "duplicate")
        seen.setdefault(key, where)
        if vs.group is not None and vs.group not in groups:
            message = f"virtual_server_group '{vs.group}' is not defined"
            diags.error(_at(vs.where.of("group")), message, "reference")
        _port(vs, diags)
        _real_servers(vs, diags)
        _sorry_server(vs, diags)


def _port(vs: VirtualServer, diags: Diagnostics) -> None:
    if vs.ip is not None and not vs.port and vs.persistence_timeout is None:
        message = f"virtual_server {vs.ip}: the port may be omitted only for a persistent service"
        diags.error(_at(vs.where.block), message, "missing")


def _real_servers(vs: VirtualServer, diags: Diagnostics) -> None:
    seen: dict[tuple[str, int | None], Location] = {}
    for rs in vs.real_server:
        where = _at(rs.where.of("ip"))
        key = (str(rs.ip), rs.port)
        if key in seen:
            message = f"real_server {rs.ip} {rs.port or ''} defined twice in {vs.key}".replace(
                "  ", " "
            )
            diags.error(where, message + f" (first at line {seen[key].line})", "duplicate")
        seen.setdefault(key, where)
        method = (rs.lvs_method or vs.lvs_method).kind
        _family(vs, rs, method, diags)
        if method == "DR" and vs.port and rs.port and rs.port != vs.port:
            message = (
                f"real_server {rs.ip}: DR cannot change the port ({vs.port} -> {rs.port}); "
                "packets reach it on the virtual port"
            )
            diags.warning(where, message, "port")
        if not rs.checkers:
            message = f"real_server {rs.ip} has no health checker: it is always considered up"
            diags.warning(where, message, "checker")
        _bfd_checks(rs, diags)


def _bfd_checks(rs: RealServer, diags: Diagnostics) -> None:
    """BFD_CHECK follows a session of keepalived's BFD process, which we do not have: the
    checker is ignored (docs/health-checks.md), as by a keepalived built without BFD."""
    others = [c for c in rs.checkers if not isinstance(c, BfdCheck)]
    for checker in rs.checkers:
        if not isinstance(checker, BfdCheck):
            continue
        message = (
            "BFD_CHECK needs keepalived's BFD process, which pykeepalived does not have: "
            "this checker is ignored; "
        )
        if others:
            message += f"real_server {rs.ip} follows its other checker(s) only"
        else:
            message += f"real_server {rs.ip} has no other checker: it is always considered up"
        diags.warning(_at(checker.where.block), message, "unsupported")


def _family(vs: VirtualServer, rs: RealServer, method: str, diags: Diagnostics) -> None:
    if vs.ip is None or method == "TUN" or rs.ip.version == vs.ip.version:
        return
    message = f"real_server {rs.ip} is IPv{rs.ip.version} but virtual_server {vs.key} is "
    message += f"IPv{vs.ip.version} (only TUN may mix families)"
    diags.error(_at(rs.where.of("ip")), message, "family")


def _sorry_server(vs: VirtualServer, diags: Diagnostics) -> None:
    sorry = vs.sorry_server
    if sorry is None or vs.ip is None:
        return
    method = (vs.sorry_server_lvs_method or vs.lvs_method).kind
    if method != "TUN" and sorry.ip.version != vs.ip.version:
        message = f"sorry_server {sorry.ip} is not IPv{vs.ip.version} like {vs.key}"
        diags.error(_at(vs.where.of("sorry_server")), message, "family")
