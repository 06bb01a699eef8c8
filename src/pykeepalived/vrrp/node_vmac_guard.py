"""A VMAC of ours deleted by something else is made again, and a MASTER's VIPs with it.

keepalived re-creates its VMAC interfaces when they are deleted (``recreate_vmac_thread``).
Without that, an instance speaking on its VMAC would be deaf and mute there while keeping its
state: the peer takes over, and this MASTER would come back to nothing. So on a link
notification that one of ours is gone (not just down), the VMAC is made again as it was
configured, the sockets on it re-open (``node_links.follow``), and a MASTER puts its VIPs
(gone with the interface), routes and GARPs back, without changing state.
"""

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable, Mapping

from pykeepalived.errors import KernelError
from pykeepalived.kernel.ports import LinkPort, VmacPort, VmacSpec, VrrpTransport
from pykeepalived.vrrp.events import AddVips, SendGratuitous
from pykeepalived.vrrp.group import Tagged
from pykeepalived.vrrp.instance import Instance
from pykeepalived.vrrp.node_links import follow
from pykeepalived.vrrp.node_receive import SocketKey
from pykeepalived.vrrp.states import State

log = logging.getLogger("pykeepalived.vrrp")


async def guard_vmacs(
    links: LinkPort,
    vmacs: VmacPort,
    specs: Mapping[str, VmacSpec],
    sockets: Mapping[SocketKey, VrrpTransport],
    cores: Mapping[str, Instance],
    lock: asyncio.Lock,
    perform: Callable[[list[Tagged]], Awaitable[None]],
    stop: asyncio.Event,
) -> None:
    """``specs``: instance -> its VMAC. Until the node stops; a failed link watch is logged."""
    by_ifname = {spec.ifname: (name, spec) for name, spec in specs.items()}
    try:
        async for state in links.watch():
            if state.up or state.ifname not in by_ifname or _exists(state.ifname):
                continue
            name, spec = by_ifname[state.ifname]
            log.warning("(%s) VMAC %s was deleted by something else: creating it again", name,
                        spec.ifname)  # fmt: skip
            try:
                await vmacs.create(spec)
            except KernelError as exc:
                log.error("(%s) %s", name, exc)
                continue
            follow(spec.ifname, sockets)
            async with lock:
                core = cores.get(name)
                if core is not None and core.state is State.MASTER:
                    announce = SendGratuitous(repeat=core.params.garp_master_repeat)
                    await perform([Tagged(source=name, action=AddVips()),
                                   Tagged(source=name, action=announce)])  # fmt: skip
    except KernelError as exc:
        log.error("VRRP: not watching VMACs: %s", exc)
        await stop.wait()


def _exists(ifname: str) -> bool:
    try:
        socket.if_nametoindex(ifname)
    except OSError:
        return False
    return True
