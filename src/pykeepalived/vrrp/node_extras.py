"""What an instance owns besides its VIPs: virtual routes and rules, and its VMAC interface.

Rules: asyncio glue (L3) beside ``node`` / ``node_actions``, over the kernel *ports* only.
keepalived's order (``vrrp_state_become_master`` / ``vrrp_restore_interface``): on becoming
MASTER, VIPs, then routes, then rules; on leaving, rules, routes, then VIPs. A VMAC exists for
the instance's whole life (created before its sockets open, deleted at stop unless a reload hands
the instance on); its VIPs go on the VMAC and, unless ``vmac_xmit_base``, so do its adverts.
At start, routes and rules of configured instances left by a crash are removed (ours carry
protocol 18, so an administrator's identical entry is never touched). A kernel error on one
entry is logged and the others still go through. The static ones (``static_ipaddress``,
``static_routes``, ``static_rules``) are keepalived's ``vrrp_daemon`` ones: set at start in that
order whatever the state, removed at stop in the reverse order, diffed on reload; a static
address deleted from outside is put back by the VIP guard (``node_vip_guard``).
"""

import dataclasses
import functools
import logging
from collections.abc import Collection, Coroutine
from dataclasses import dataclass
from ipaddress import IPv6Address
from typing import TYPE_CHECKING, Any

from pykeepalived.config.model import KeepalivedConfig
from pykeepalived.config.model_routes import IpRoute, IpRule, describe
from pykeepalived.config.model_rules import resolve_rule_priorities
from pykeepalived.config.model_vrrp import VrrpInstance
from pykeepalived.config.model_vrrp_items import VirtualIp
from pykeepalived.errors import KernelError
from pykeepalived.kernel.ports import AddressPort, RoutePort, VipSpec, VmacPort, VmacSpec
from pykeepalived.vrrp.node_actions import vip_spec

if TYPE_CHECKING:
    from pykeepalived.vrrp.node_actions import InstanceIO

log = logging.getLogger("pykeepalived.vrrp")
Step = functools.partial[Coroutine[Any, Any, bool]]
STATIC = "static"  # how logs name the static_routes / static_rules
__all__ = ["Extras", "NodeExtras", "RoutePort", "VmacPort", "extras_of", "static_of",
           "tracked_static", "vmac_mac", "vmac_names"]  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class Extras:
    """One instance's routes, rules (preferences resolved) and VMAC (None without use_vmac);
    ``addresses``: the static ones (an instance's VIPs are the driver's, not here)."""

    addresses: tuple[VipSpec, ...] = ()
    routes: tuple[IpRoute, ...] = ()
    rules: tuple[IpRule, ...] = ()
    vmac: VmacSpec | None = None
    xmit_base: bool = False


def vmac_mac(inst: VrrpInstance, family: int) -> str:
    """00:00:5e:00:01:VRID (00:00:5e:00:02:VRID for IPv6) unless the config names one (five
    octets: a prefix, the VRID is the sixth)."""
    vrid = f"{inst.virtual_router_id or 0:02x}"
    if inst.use_vmac is not None and inst.use_vmac.mac:
        mac = inst.use_vmac.mac
        return mac if mac.count(":") == 5 else f"{mac}:{vrid}"
    return f"00:00:5e:00:0{2 if family == 6 else 1}:{vrid}"


def vmac_names(config: KeepalivedConfig) -> dict[str, str]:
    """keepalived's create_vmac_name: ``vrrp.VRID``, or for a second instance with that VRID
    (IPv6 beside IPv4) ``vrrp6.VRID``, then ``vrrp1.VRID``..., names cut to 15 characters."""
    taken = {i.use_vmac.ifname for i in config.vrrp_instance if i.use_vmac and i.use_vmac.ifname}
    out: dict[str, str] = {}
    for inst in config.vrrp_instance:
        if inst.use_vmac is None:
            continue
        name = inst.use_vmac.ifname
        if name in out.values():
            name = None  # a second instance naming it: keepalived ignores that name
        if not name:
            vrid = inst.virtual_router_id or 0
            numbers = [""] + (["6"] if inst.family == 6 else []) + [str(n) for n in range(1, 99)]
            name = next(f"vrrp{n}.{vrid}"[:15] for n in numbers if f"vrrp{n}.{vrid}" not in taken)
        taken.add(name)
        out[inst.name] = name
    return out


def extras_of(config: KeepalivedConfig) -> dict[str, Extras]:
    """Every instance's extras; rule preferences as keepalived assigns them (static rules
    first, then each instance's in order)."""
    everything = [*config.static_rules, *(r for i in config.vrrp_instance for r in i.virtual_rules)]
    resolved = iter(resolve_rule_priorities(everything)[len(config.static_rules) :])
    names = vmac_names(config)
    strict = config.global_defs.vrrp_strict
    out: dict[str, Extras] = {}
    for inst in config.vrrp_instance:
        rules = tuple(next(resolved) for _ in inst.virtual_rules)
        vmac = None
        xmit_base = inst.vmac_xmit_base
        if inst.use_vmac is not None and inst.interface:
            family = inst.family or 4
            vmac = VmacSpec(ifname=names[inst.name], base=inst.interface, family=family,
                            mac=vmac_mac(inst, family), group=inst.use_vmac.group)  # fmt: skip
            if inst.unicast_peer:
                xmit_base = True  # keepalived: "unicast with use_vmac requires vmac_xmit_base"
            if inst.strict_mode if inst.strict_mode is not None else strict:
                xmit_base = False  # keepalived: "xmit_base is incompatible with strict mode"
        out[inst.name] = Extras(routes=inst.virtual_routes, rules=rules, vmac=vmac,
                                xmit_base=xmit_base)  # fmt: skip
    return out


@dataclass
class NodeExtras:
    """The driver's side of routes, rules and VMACs for one node (one config)."""

    extras: dict[str, Extras]
    routes: RoutePort | None
    vmacs: VmacPort | None
    static: Extras = Extras()
    addresses: AddressPort | None = None  # for the static addresses

    def adjust(self, io: "InstanceIO") -> "InstanceIO":
        """With a VMAC, the instance sends and receives on it (unless vmac_xmit_base) and its
        VIPs without a ``dev`` go on it; an IPv6 VMAC that sends adverts also needs the source
        address (the base's link-local) on it, as keepalived does."""
        name = io.config.name
        extras = self.extras.get(name)
        if extras is None or extras.vmac is None:
            return io
        vmac = extras.vmac
        if not extras.xmit_base and isinstance(io.src, IPv6Address) and io.src.is_link_local:
            vmac = dataclasses.replace(vmac, link_local=io.src)
            self.extras[name] = dataclasses.replace(extras, vmac=vmac)
        inst = io.config
        return dataclasses.replace(
            io,
            ifname=io.ifname if extras.xmit_base else vmac.ifname,
            vips=tuple(
                dataclasses.replace(spec, ifname=self.vip_interface(inst, vip))
                for spec, vip in zip(io.vips, inst.virtual_ipaddress, strict=True)
            ),
            excluded=tuple(
                dataclasses.replace(spec, ifname=self.vip_interface(inst, vip))
                for spec, vip in zip(io.excluded, inst.virtual_ipaddress_excluded, strict=True)
            ),
        )

    async def start(self, keep: Collection[str] = ()) -> None:
        """Static addresses, routes and rules first (keepalived sets them at start, whatever the
        state; an address already there is left as it is, not removed and added again);
        then create VMACs and remove routes/rules a crashed predecessor left (not ``keep``'s)."""
        await self._each(STATIC, self.static, add=True)
        for name, extras in self.extras.items():
            if extras.vmac is not None and self.vmacs is not None:
                try:
                    if await self.vmacs.create(extras.vmac):
                        log.info("(%s) Success creating VMAC interface %s", name,
                                 extras.vmac.ifname)  # fmt: skip
                except KernelError as exc:
                    log.error("(%s) %s", name, exc)
            if name not in keep:
                await self.apply(name, add=False, stale=True)

    async def apply(
        self, name: str, *, add: bool, detail: bool = False, stale: bool = False
    ) -> None:
        """Add (routes, then rules) or remove (rules, then routes) the instance's entries."""
        extras = self.extras.get(name)
        if extras is not None and (extras.routes or extras.rules):
            if detail:  # keepalived's wording (vrrp_handle_iproutes / _iprules)
                verb = "sett" if add else "remov"
                log.info("(%s) %sing Virtual Routes and Rules", name, verb)
            await self._each(name, extras, add=add, stale=stale)

    def routing(self) -> bool:
        """Whether this config has any route or rule, static or virtual."""
        return any(e.routes or e.rules for e in [self.static, *self.extras.values()])

    async def reinstate(self, name: str | None) -> int:
        """Put back what is missing of the tracked (not ``no_track``) routes and rules of
        instance ``name``, or the static ones (None); how many were missing."""
        extras = self.static if name is None else self.extras.get(name)
        if extras is None:
            return 0
        tracked = Extras(routes=tuple(r for r in extras.routes if not r.no_track),
                         rules=tuple(r for r in extras.rules if not r.no_track))  # fmt: skip
        return await self._each(name or STATIC, tracked, add=True)

    async def _each(self, name: str, extras: Extras, *, add: bool, stale: bool = False) -> int:
        """Addresses, routes, then rules when adding; the reverse when removing. How many
        changed (the others were already so, or failed: logged)."""
        addresses: list[Step] = []
        if self.addresses is not None:
            change = self.addresses.add if add else self.addresses.remove
            addresses = [functools.partial(change, a) for a in extras.addresses]
        routes: list[Step] = []
        rules: list[Step] = []
        if (port := self.routes) is not None:
            routes = [functools.partial(port.add_route if add else port.remove_route, r)
                      for r in extras.routes]  # fmt: skip
            rules = [functools.partial(port.add_rule if add else port.remove_rule, r)
                     for r in extras.rules]  # fmt: skip
        changed = 0
        for step in addresses + routes + rules if add else rules + routes + addresses:
            try:
                done = await step()
            except KernelError as exc:
                log.error("(%s) %s", name, exc)
                continue
            changed += bool(done)
            if stale and done:
                log.info("(%s) removed stale %s", name, _describe(step.args[0]))
        return changed

    async def release_gone(self, new: "NodeExtras", kept: Collection[str]) -> None:
        """Reload: static addresses, routes and rules gone from the config, and those that left an
        instance kept in its state, are removed now (the successor adds the ones that stay
        or came, idempotently)."""
        await self._each(STATIC, _minus(self.static, new.static), add=False)
        for name in kept:
            old, now = self.extras.get(name), new.extras.get(name)
            if old is not None and now is not None:
                await self._each(name, _minus(old, now), add=False)
                if old.vmac is not None and self.vmacs is not None and not _same(old, now):
                    await self.vmacs.remove(old.vmac)  # use_vmac off, or another VMAC now

    def vip_interface(self, inst: VrrpInstance, vip: VirtualIp) -> str:
        """Where ``vip`` lives: keepalived's rule (on the VMAC when it names no interface or
        the instance's, and is of the instance's family; else its dev or the interface)."""
        extras = self.extras.get(inst.name)
        vmac = extras.vmac if extras is not None else None
        family = inst.family or 4
        if vmac is not None and vip.dev in (None, inst.interface) and vip.address.version == family:
            return vmac.ifname
        return vip.dev or inst.interface or ""

    async def stop(self, handover: Collection[str] = (), *, keep_static: bool = False) -> None:
        """Delete the VMACs, except those of instances a successor node carries on; remove the
        static rules, routes and addresses unless a successor carries on (a reload)."""
        if not keep_static:
            await self._each(STATIC, self.static, add=False)
        if self.vmacs is None:
            return
        for name, extras in self.extras.items():
            if extras.vmac is None or name in handover:
                continue
            try:
                if await self.vmacs.remove(extras.vmac):
                    log.info("(%s) Success removing VMAC interface %s", name, extras.vmac.ifname)
            except KernelError as exc:
                log.error("(%s) %s", name, exc)


def static_of(config: KeepalivedConfig) -> Extras:
    """static_ipaddress / static_routes / static_rules, rule preferences as keepalived assigns
    them; an address without ``dev`` goes on global_defs' ``default_interface``."""
    rules = resolve_rule_priorities(config.static_rules)
    default = config.global_defs.default_interface
    addresses = tuple(vip_spec(a, default) for a in config.static_ipaddress)
    return Extras(addresses=addresses, routes=config.static_routes, rules=tuple(rules))


def tracked_static(config: KeepalivedConfig) -> tuple[VipSpec, ...]:
    """The static addresses put back when deleted from outside: all but ``no_track`` ones."""
    pairs = zip(static_of(config).addresses, config.static_ipaddress, strict=True)
    return tuple(spec for spec, item in pairs if not item.no_track)


def _same(old: Extras, new: Extras) -> bool:
    return new.vmac is not None and old.vmac is not None and (
        (new.vmac.ifname, new.vmac.mac, new.vmac.base) == (old.vmac.ifname, old.vmac.mac,
                                                            old.vmac.base))  # fmt: skip


def _minus(old: Extras, new: Extras) -> Extras:
    return Extras(addresses=tuple(a for a in old.addresses if a not in new.addresses),
                  routes=tuple(r for r in old.routes if r not in new.routes),
                  rules=tuple(r for r in old.rules if r not in new.rules))  # fmt: skip


def _describe(entry: object) -> str:
    if isinstance(entry, VipSpec):
        return f"address {entry.address} dev {entry.ifname}"
    assert isinstance(entry, IpRoute | IpRule)
    return describe(entry)
