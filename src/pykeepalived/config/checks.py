"""Semantic checks: what no single keyword can know (references, families, duplicates, ranges
that depend on other keywords), plus the machine questions asked through ``Environment``.

Rules: every check reads the finished model and reports through ``Diagnostics``; none raises.
References are resolved against the whole file, so the order of blocks never matters.
Machine findings carry the code ``env`` (warnings unless ``--check-environment``).
"""

from collections.abc import Iterable

from pykeepalived.config.checks_bgp import check_bgp
from pykeepalived.config.checks_lvs import check_lvs
from pykeepalived.config.checks_strict import check_strict
from pykeepalived.config.checks_unapplied import check_unapplied
from pykeepalived.config.checks_vrrp import check_vrrp
from pykeepalived.config.diagnostics import Diagnostics, Location
from pykeepalived.config.environment import Environment
from pykeepalived.config.model import KeepalivedConfig
from pykeepalived.config.model_common import Script
from pykeepalived.config.model_routes import IpRoute, IpRule
from pykeepalived.config.model_vrrp import VrrpInstance


def run_checks(config: KeepalivedConfig, diags: Diagnostics, env: Environment | None) -> None:
    check_vrrp(config, diags)
    check_strict(config, diags)
    check_lvs(config, diags)
    check_bgp(config, diags)
    check_unapplied(config, diags)
    if env is not None:
        check_environment(config, diags, env)


def check_environment(config: KeepalivedConfig, diags: Diagnostics, env: Environment) -> None:
    g = config.global_defs
    for inst in config.vrrp_instance:
        _check_interfaces(inst, diags, env)
    for name, where in _route_interfaces(config.static_routes, config.static_rules):
        if where is not None and not env.has_interface(name):
            diags.warning(where, f"interface '{name}' does not exist on this machine", "env")
    secure = g.enable_script_security
    for where, script in _scripts(config):
        problem = env.script_problem(script.command, secure=secure)
        if problem and where is not None:
            diags.warning(where, f"script {problem}", "env")
    if g.smtp_server is not None and not env.resolves(g.smtp_server.address):
        where = g.where.of("smtp_server")
        if where is not None:
            diags.warning(where, f"smtp_server '{g.smtp_server.address}' does not resolve", "env")


def _check_interfaces(inst: VrrpInstance, diags: Diagnostics, env: Environment) -> None:
    names = [(inst.interface, inst.where.of("interface"))]
    names += [(t.name, t.location) for t in inst.track_interface]
    names += [(v.dev, v.location) for v in inst.all_vips if v.dev]
    names += _route_interfaces(inst.virtual_routes, inst.virtual_rules)
    for name, where in names:
        if name and where is not None and not env.has_interface(name.split(":", 1)[0]):
            diags.warning(where, f"interface '{name}' does not exist on this machine", "env")


def _route_interfaces(
    routes: Iterable[IpRoute], rules: Iterable[IpRule]
) -> list[tuple[str, Location | None]]:
    """The interfaces routes and rules name (keepalived: 'interface X for VROUTE doesn't
    exist' unless dynamic_interfaces)."""
    out: list[tuple[str, Location | None]] = []
    for route in routes:
        out += [(d, route.location) for d in (route.dev, *(h.dev for h in route.nexthops)) if d]
    for rule in rules:
        out += [(d, rule.location) for d in (rule.iif, rule.oif) if d]
    return out


def _scripts(config: KeepalivedConfig) -> Iterable[tuple[Location | None, Script]]:
    g = config.global_defs
    for name in ("startup_script", "shutdown_script"):
        script = getattr(g, name)
        if script is not None:
            yield g.where.of(name), script
    for vs in config.vrrp_script:
        if vs.script:
            yield vs.where.of("script"), Script(command=vs.script)
    for inst in config.vrrp_instance:
        for name in ("notify_master", "notify_backup", "notify_fault", "notify_stop", "notify"):
            script = getattr(inst, name)
            if script is not None:
                yield inst.where.of(name), script
    for server in config.virtual_server:
        for rs in server.real_server:
            for name in ("notify_up", "notify_down"):
                script = getattr(rs, name)
                if script is not None:
                    yield rs.where.of(name), script
            for misc in rs.MISC_CHECK:
                if misc.misc_path is not None:
                    yield misc.where.of("misc_path"), misc.misc_path
