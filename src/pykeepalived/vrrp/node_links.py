"""VRRP sockets follow an interface that is deleted and made again.

Why: a raw socket stays bound to the interface index it was opened on. When a bond, VLAN or
veth is re-created under the same name (a network manager's restart, a driver reload), the old
sockets hear and send nothing there, so a BACKUP takes over while the master is alive and the
master, deaf, keeps the VIP too: a split brain for good (seen in the lab: both held the VIP
4 s after the re-creation and on; keepalived 2.2.7 recovers). So on every link-up
notification the sockets on that interface check its index and re-open if it changed; the
send path does the same when the kernel answers ENODEV (``VrrpSocket.follow_interface``).
"""

import asyncio
import logging
from collections.abc import Mapping

from pykeepalived.errors import KernelError
from pykeepalived.kernel.ports import LinkPort, VrrpTransport
from pykeepalived.vrrp.node_receive import SocketKey

log = logging.getLogger("pykeepalived.vrrp")


async def follow_recreated_interfaces(
    links: LinkPort, sockets: Mapping[SocketKey, VrrpTransport], stop: asyncio.Event
) -> None:
    """Until the node stops; a link watch that fails is logged and the send path still
    follows (``VrrpSocket.send``)."""
    try:
        async for state in links.watch():
            if state.up:
                follow(state.ifname, sockets)
    except KernelError as exc:
        log.error("VRRP: not following re-created interfaces: %s", exc)
        await stop.wait()


def follow(ifname: str, sockets: Mapping[SocketKey, VrrpTransport]) -> None:
    for key, transport in list(sockets.items()):
        if key[0] != ifname:
            continue
        try:
            if transport.follow_interface():
                log.warning("VRRP: %s was deleted and made again: its sockets re-opened", ifname)
        except KernelError as exc:
            log.error("VRRP: %s", exc)
