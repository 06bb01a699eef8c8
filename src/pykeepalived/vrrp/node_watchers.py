"""The node's watchers: what it keeps right when something else changes the host under it.

Each has a module that says why: ``node_links`` (an interface deleted and made again),
``node_vip_guard`` (a VIP or static address deleted), ``node_source_guard`` (the advert
source address gone), ``node_route_guard`` (a route or rule of ours deleted),
``node_firewall_guard`` (the VIP firewall table flushed), ``node_vmac_guard`` (a VMAC
deleted). This module only builds them over the node's tables, as the tasks the node runs
until it stops.
"""

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pykeepalived.config.model import KeepalivedConfig
from pykeepalived.kernel.ports import VrrpTransport
from pykeepalived.vrrp.from_config import drops_vip_traffic
from pykeepalived.vrrp.group import Tagged
from pykeepalived.vrrp.instance import Instance
from pykeepalived.vrrp.node_actions import InstanceIO, InstanceStats
from pykeepalived.vrrp.node_extras import NodeExtras, tracked_static
from pykeepalived.vrrp.node_firewall_guard import guard_firewall
from pykeepalived.vrrp.node_links import follow_recreated_interfaces
from pykeepalived.vrrp.node_receive import SocketKey
from pykeepalived.vrrp.node_route_guard import RouteGuard
from pykeepalived.vrrp.node_source_guard import SourceGuard
from pykeepalived.vrrp.node_vip_guard import VipGuard
from pykeepalived.vrrp.node_vmac_guard import guard_vmacs
from pykeepalived.vrrp.units import Unit

if TYPE_CHECKING:
    from pykeepalived.vrrp.node import VrrpPorts

Task = Coroutine[Any, Any, None]


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeTables:
    """The node's own tables and lock, shared with the watchers (filled as it builds)."""

    config: KeepalivedConfig
    io: Mapping[str, InstanceIO]
    cores: Mapping[str, Instance]
    unit_of: Mapping[str, Unit]
    stats: dict[str, InstanceStats]
    sockets: Mapping[SocketKey, VrrpTransport]
    extras: NodeExtras | None
    lock: asyncio.Lock
    wake: asyncio.Event
    perform: Callable[[list[Tagged]], Awaitable[None]]


def watchers(ports: "VrrpPorts", t: NodeTables, stop: asyncio.Event) -> dict[str, Task]:
    """Task name -> coroutine, for the node's task group; only what this host's ports and
    this config need (no route watch without a route or rule)."""
    out: dict[str, Task] = {
        "vrrp-follow-links": follow_recreated_interfaces(ports.links, t.sockets, stop)
    }
    if (addresses := ports.address_watch) is not None:
        vips = VipGuard(watch=addresses, addresses=ports.addresses, links=ports.links,
                        io=t.io, cores=t.cores, stats=t.stats, lock=t.lock,
                        perform=t.perform, static=tracked_static(t.config))  # fmt: skip
        sources = SourceGuard(watch=addresses, addresses=ports.addresses, io=t.io,
                              unit_of=t.unit_of, clock=ports.clock, lock=t.lock, wake=t.wake,
                              perform=t.perform)  # fmt: skip
        out["vrrp-vip-guard"] = vips.run(stop)
        out["vrrp-source-guard"] = sources.run(stop)
    if (routes := ports.route_watch) is not None and t.extras is not None and t.extras.routing():
        out["vrrp-route-guard"] = RouteGuard(routes, t.extras, t.cores, t.lock).run(stop)
    specs = {} if t.extras is None else {n: e.vmac for n, e in t.extras.extras.items() if e.vmac}
    if ports.vmacs is not None and specs:
        out["vrrp-vmac-guard"] = guard_vmacs(ports.links, ports.vmacs, specs, t.sockets, t.cores,
                                             t.lock, t.perform, stop)  # fmt: skip
    firewall = ports.firewall
    if firewall is not None and any(drops_vip_traffic(i, t.config) for i in t.config.vrrp_instance):
        out["vrrp-firewall-guard"] = guard_firewall(firewall, stop)
    return out
