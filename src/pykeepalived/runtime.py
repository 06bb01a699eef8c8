"""Composition of the real adapters: netlink, raw sockets, packet sockets, IPVS or nftables.

Rules: L6, beside ``cli``: the only place that names concrete kernel adapters. Everything it
builds is handed to the daemon as factories (``daemon.Adapters``).
"""

import functools
import logging
import os
import sys
from collections.abc import Callable
from ipaddress import ip_address
from typing import TYPE_CHECKING

from pykeepalived.bgp.speaker import Speaker
from pykeepalived.clock import MonotonicClock
from pykeepalived.config.loader import LoadResult, load_machine
from pykeepalived.config.model import KeepalivedConfig
from pykeepalived.daemon import Adapters
from pykeepalived.errors import KernelError
from pykeepalived.kernel import rtquery
from pykeepalived.kernel.announce import PacketAnnouncer
from pykeepalived.kernel.backend import choose_backend, ipvs_present
from pykeepalived.kernel.netlink import NetlinkAddresses, NetlinkLinks
from pykeepalived.kernel.ports import IPAddress, VrrpTransport
from pykeepalived.kernel.route_watch import RouteWatch
from pykeepalived.kernel.routes import NetlinkRoutes
from pykeepalived.kernel.vip_firewall import NftVipFirewall
from pykeepalived.kernel.vmac import NetlinkVmacs
from pykeepalived.kernel.vrrp_listen import EarlyReceivers
from pykeepalived.kernel.vrrp_socket import VrrpSocket
from pykeepalived.notify import ScriptRunner
from pykeepalived.vrrp.node import VrrpPorts

if TYPE_CHECKING:  # the data plane is imported when the LVS half starts, after VRRP's start
    from pykeepalived.kernel.dataplane import DataPlane


async def primary_address(ifname: str, family: int) -> IPAddress:
    """The address our adverts come from: the interface's first IPv4 address, or for IPv6 its
    link-local address (RFC 5798 5.1.2.1), as keepalived picks them."""
    index = rtquery.index_of(ifname)
    if index is None:
        raise KernelError(f"interface {ifname} does not exist")
    try:
        records = rtquery.addresses(index, family=2 if family == 4 else 10)
    except OSError as exc:
        raise KernelError(f"cannot list the addresses of {ifname}: {exc}") from exc
    addresses = [ip_address(a.address) for a in records]
    if family == 6:
        addresses = [a for a in addresses if a.is_link_local] or addresses
    if not addresses:
        raise KernelError(f"interface {ifname} has no IPv{family} address to send VRRP from")
    return addresses[0]


def vrrp_ports(
    config: KeepalivedConfig, scripts: ScriptRunner, early: EarlyReceivers | None = None
) -> VrrpPorts:
    """``early``: receive sockets listening since process start (``cli``), adopted by the
    first node's transports; a reload's node opens its own (they are all taken by then)."""
    del config

    def open_transport(ifname: str, src: IPAddress, group: IPAddress | None) -> VrrpTransport:
        return VrrpSocket(ifname, src, group=group, early=early)

    addresses = NetlinkAddresses()
    return VrrpPorts(
        addresses=addresses,
        address_watch=addresses,
        route_watch=RouteWatch(),
        announcer=PacketAnnouncer(),
        links=NetlinkLinks(),
        open_transport=open_transport,
        release_early=None if early is None else early.close,
        primary_address=primary_address,
        scripts=scripts,
        clock=MonotonicClock(),
        firewall=NftVipFirewall(),  # idle (no table) unless an instance drops VIP traffic
        routes=NetlinkRoutes(),
        vmacs=NetlinkVmacs(),
    )


def dataplane_factory(requested: str | None) -> Callable[[KeepalivedConfig], "DataPlane"]:
    """Decide the backend now, before the event loop runs (the kernel probe is synchronous);
    forcing IPVS on a kernel without it fails here, at start, with the reason."""
    info = choose_backend(requested, ipvs_present=ipvs_present())

    def make(config: KeepalivedConfig) -> "DataPlane":
        # Imported here, when the LVS half starts (after VRRP's), and only the one in use.
        if info.name == "ipvs":
            from pykeepalived.kernel.ipvs import IpvsDataPlane

            if config.bgp_speaker is not None:
                _sloppy_tcp()
            return IpvsDataPlane(reason=info.reason)
        from pykeepalived.kernel.nft_rules import DEFAULT_SEED
        from pykeepalived.kernel.nftables import NftablesDataPlane

        devices = sorted({i.interface for i in config.vrrp_instance if i.interface})
        seed = config.global_defs.lvs_hash_seed
        return NftablesDataPlane(
            reason=info.reason,
            ingress_devices=devices,
            seed=DEFAULT_SEED if seed is None else seed,
        )

    return make


def _sloppy_tcp() -> None:
    """Active-active on IPVS: a director that gets a flow in mid-stream (the router moved it)
    must take it up, not drop it for want of a SYN (``sloppy_tcp``)."""
    path = "/proc/sys/net/ipv4/vs/sloppy_tcp"
    try:
        with open(path, "w") as f:
            f.write("1\n")
    except OSError as exc:
        logging.getLogger("pykeepalived.lvs").error("cannot set %s: %s", path, exc)


def speaker_factory(config: KeepalivedConfig, prefixes: list[str]) -> Speaker:
    bgp = config.bgp_speaker
    assert bgp is not None
    if bgp.speaker == "bird":
        from pykeepalived.bgp.bird import BirdSpeaker

        return BirdSpeaker(bgp, prefixes)
    from pykeepalived.bgp.exabgp import ExabgpSpeaker

    return ExabgpSpeaker(bgp)


def adapters(
    config_path: str,
    config_id: str | None,
    backend: str | None,
    early: EarlyReceivers | None = None,
) -> Adapters:
    def load() -> LoadResult:
        result = load_machine(config_path, config_id=config_id)
        if early is not None and (result.config is None or not result.config.vrrp_instance):
            early.close()  # no VRRP node will adopt them
        return result

    return Adapters(
        load=load,
        vrrp_ports=functools.partial(vrrp_ports, early=early),
        dataplane=dataplane_factory(backend),
        clock=MonotonicClock(),
        speaker=speaker_factory,
    )


def setup_logging(
    *, console: bool, detail: bool, log_file: str | None, facility: str | None
) -> None:
    handlers: list[logging.Handler] = []
    fmt = "%(asctime)s %(name)s[%(process)d]: %(message)s"
    if console:
        handlers.append(logging.StreamHandler(sys.stderr))
    if log_file:
        handlers.append(logging.FileHandler(log_file))
    if not handlers and os.path.exists("/dev/log"):
        from logging.handlers import SysLogHandler  # syslog only: not on -l / -g's start

        local = int(facility) if facility and facility.isdigit() else 0
        syslog = SysLogHandler("/dev/log", facility=SysLogHandler.LOG_LOCAL0 + local)
        syslog.setFormatter(logging.Formatter("Keepalived_%(name)s: %(message)s"))
        handlers.append(syslog)
    for handler in handlers:
        if handler.formatter is None:
            handler.setFormatter(logging.Formatter(fmt))
    logging.basicConfig(level=logging.DEBUG if detail else logging.INFO, handlers=handlers,
                        force=True)  # fmt: skip
    for noisy in ("pyroute2", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
