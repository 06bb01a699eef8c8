"""``pykeepalived cleanup -f CONF``: remove what a crashed daemon may have left behind.

The VIPs of the configured VRRP instances (and their excluded VIPs) and the static addresses
are removed from their interfaces, the VIP firewall table (no_accept / vrrp_strict) is deleted,
the virtual and static routes and rules (ours: protocol 18) and the instances' VMACs (with
their VIPs and IGMP tables) are removed, and the virtual services the config names are removed
from the data plane. Run by systemd's ExecStopPost, so that a SIGKILL or an OOM kill leaves no
stale VIP (a split brain waiting to happen) and no orphaned LVS service; keepalived has no such
step.
"""

import argparse
import asyncio
import functools
import sys
from collections.abc import Callable

from pykeepalived.config.loader import load_machine
from pykeepalived.config.model import KeepalivedConfig
from pykeepalived.config.model_routes import describe
from pykeepalived.errors import PyKeepalivedError
from pykeepalived.kernel.dataplane import DataPlane
from pykeepalived.kernel.netlink import NetlinkAddresses
from pykeepalived.kernel.ports import VipSpec
from pykeepalived.kernel.routes import NetlinkRoutes
from pykeepalived.kernel.vip_firewall import TABLE, NftVipFirewall
from pykeepalived.kernel.vmac import NetlinkVmacs
from pykeepalived.lvs.desired import compute
from pykeepalived.lvs.reconcile import teardown
from pykeepalived.runtime import dataplane_factory
from pykeepalived.vrrp.node_extras import extras_of, static_of


async def remove_vips(config: KeepalivedConfig) -> list[str]:
    addresses = NetlinkAddresses()
    removed = []
    try:
        for inst in config.vrrp_instance:
            for vip in inst.virtual_ipaddress + inst.virtual_ipaddress_excluded:
                ifname = vip.dev or inst.interface
                if not ifname:
                    continue
                spec = VipSpec(address=vip.address, ifname=ifname)
                try:
                    if await addresses.remove(spec):
                        removed.append(f"VIP {vip.address} from {ifname} ({inst.name})")
                except PyKeepalivedError:
                    continue  # the interface is gone: so is the address
        for spec in static_of(config).addresses:
            try:
                if await addresses.remove(spec):
                    removed.append(f"static address {spec.address} from {spec.ifname}")
            except PyKeepalivedError:
                continue
    finally:
        await addresses.close()
    if await NftVipFirewall().remove_table():
        removed.append(f"nftables table inet {TABLE} (VIP firewall)")
    return removed


async def remove_routes_and_vmacs(config: KeepalivedConfig) -> list[str]:
    """Rules, then routes, then the VMACs, as the daemon removes them at its stop."""
    routes, vmacs = NetlinkRoutes(), NetlinkVmacs()
    removed: list[str] = []
    try:
        for name, extras in [("static", static_of(config)), *extras_of(config).items()]:
            steps = [functools.partial(routes.remove_rule, r) for r in extras.rules]
            steps += [functools.partial(routes.remove_route, r) for r in extras.routes]
            for step in steps:
                entry = step.args[0]
                try:
                    if await step():
                        removed.append(f"{type(entry).__name__} {describe(entry)} ({name})")
                except PyKeepalivedError:
                    continue
            if extras.vmac is not None:
                try:
                    if await vmacs.remove(extras.vmac):
                        removed.append(f"VMAC {extras.vmac.ifname} ({name})")
                except PyKeepalivedError:
                    continue
    finally:
        await routes.close()
    return removed


async def remove_services(
    config: KeepalivedConfig, make: Callable[[KeepalivedConfig], DataPlane]
) -> list[str]:
    if not config.virtual_server:
        return []
    dataplane = make(config)
    try:
        named = set(compute(config, {}).table)
        observed = await dataplane.observe()
        ops = teardown(named, observed)
        failures = await dataplane.apply(ops, {key: e for key, e in observed.items()
                                                if key not in named})  # fmt: skip
        failed = {id(f.op) for f in failures}
        return [f"{op.service} ({dataplane.info.name})" for op in ops if id(op) not in failed]
    finally:
        await dataplane.close()


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="pykeepalived cleanup", description=__doc__)
    p.add_argument("-f", "--use-file", dest="config", default="/etc/keepalived/keepalived.conf")
    p.add_argument("-i", "--config-id", default=None)
    p.add_argument("--lvs-backend", choices=("auto", "ipvs", "nftables"), default="auto")
    args = p.parse_args(argv)
    result = load_machine(args.config, config_id=args.config_id)
    if result.config is None or not result.ok:
        for diagnostic in result.errors:
            print(diagnostic.render(), file=sys.stderr)
        print("pykeepalived cleanup: the config has errors; nothing removed", file=sys.stderr)
        return 1
    config = result.config

    async def both(make: Callable[[KeepalivedConfig], DataPlane]) -> list[str]:
        found = await remove_vips(config) + await remove_routes_and_vmacs(config)
        return found + await remove_services(config, make)

    try:
        removed = asyncio.run(both(dataplane_factory(args.lvs_backend)))
    except PyKeepalivedError as exc:
        print(f"pykeepalived cleanup: {exc}", file=sys.stderr)
        return 1
    for item in removed:
        print(f"removed {item}")
    print(f"cleanup: {len(removed)} item(s) removed")
    return 0
