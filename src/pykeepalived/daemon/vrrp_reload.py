"""Which VRRP instances a reload takes over in their current state.

Rules: pure (L4 helper of the daemon). keepalived's ``clear_diff_vrrp`` / ``restore_vrrp_state``
keep an instance that exists before and after the reload in the state it is in (no priority 0,
no election, VIPs kept); ``identity`` says what makes it the same router. Sync groups move
together, so their members are kept too, as long as the kept members of each new group agree
on one state (a stable group always does; a group caught between states starts afresh). A
member that joins a group, or leaves one for a group of its own, follows the same rule.
"""

from collections.abc import Callable, Mapping

from pykeepalived.config.model import KeepalivedConfig
from pykeepalived.config.model_vrrp import VrrpInstance
from pykeepalived.vrrp.from_config import version_of
from pykeepalived.vrrp.states import State

Identity = Callable[[VrrpInstance, KeepalivedConfig], tuple[object, ...]]


def kept_instances(
    old: KeepalivedConfig,
    new: KeepalivedConfig,
    live: Mapping[str, State],
    identity: Identity,
) -> dict[str, State]:
    """name -> state of each instance of ``new`` that carries on from the running node."""
    before = {i.name: i for i in old.vrrp_instance}
    keep: dict[str, State] = {}
    for inst in new.vrrp_instance:
        was, state = before.get(inst.name), live.get(inst.name)
        if was is None or state not in (State.MASTER, State.BACKUP):
            continue
        if identity(was, old) == identity(inst, new):
            keep[inst.name] = state
    for group in new.vrrp_sync_group:
        members = [m.name for m in group.group]
        if len({keep[m] for m in members if m in keep}) > 1:
            for name in members:
                keep.pop(name, None)
    return keep


def identity(inst: VrrpInstance, config: KeepalivedConfig) -> tuple[object, ...]:
    """What makes an instance the same router across a reload (keepalived matches on VRID,
    interface and family); anything else may change without leaving the state it is in."""
    return (inst.virtual_router_id, inst.interface, inst.family, version_of(inst, config))


def vrrp_part(config: KeepalivedConfig) -> object:
    from pykeepalived.config.dump import to_data

    return to_data((config.vrrp_instance, config.vrrp_sync_group, config.vrrp_script,
                    config.vrrp_track_file, config.vrrp_track_process, config.static_ipaddress,
                    config.static_routes, config.static_rules,
                    config.global_defs.default_interface))  # fmt: skip


def runs_vrrp(config: KeepalivedConfig) -> bool:
    """keepalived runs its VRRP process for static addresses, routes or rules alone too."""
    return bool(config.vrrp_instance or config.static_ipaddress or config.static_routes
                or config.static_rules)  # fmt: skip
