"""Netlink adapters: virtual addresses and link state.

Rules: with ``rtaddr`` (the VIP add, on the takeover path) and ``rtquery`` (what VRRP's start
asks: an interface's index, addresses and state), the only module that talks rtnetlink for
VRRP, by hand: pyroute2's IPRoute took ~1 s to import under the IPVS VM's emulation, before
VRRP could start. Idempotent where the kernel lets us be:
adding an address that is there, or removing one that is gone, is reported (False), not
raised. Any other netlink error becomes a ``KernelError`` naming the address and interface.
"""

import fcntl
import os
import socket
import struct
from collections.abc import AsyncIterator
from ipaddress import ip_address, ip_interface

from pykeepalived.errors import KernelError
from pykeepalived.kernel import rtquery
from pykeepalived.kernel.ports import AddressGone, IPInterface, LinkState, VipSpec
from pykeepalived.kernel.rtaddr import RtnlSocket
from pykeepalived.kernel.rtnl_events import notifications

EEXIST, EADDRNOTAVAIL, ENODEV = 17, 99, 19
SIOCGIFNAME = 0x8910


class NetlinkAddresses:
    """``AddressPort`` and ``AddressWatchPort`` over rtnetlink."""

    def __init__(self) -> None:
        # ifname -> ifindex: a lookup would be paid on the takeover path otherwise; an entry
        # is dropped when the kernel says the index is gone.
        self._index: dict[str, int] = {}
        self._rtnl = RtnlSocket()

    async def index(self, ifname: str) -> int:
        cached = self._index.get(ifname)
        if cached is not None:
            return cached
        found = rtquery.index_of(ifname)
        if found is None:
            raise KernelError(f"interface {ifname} does not exist")
        self._index[ifname] = found
        return found

    async def add(self, vip: VipSpec) -> bool:
        """On the takeover path: one hand-made RTM_NEWADDR (``rtaddr``), not pyroute2."""
        index = await self.index(vip.ifname)
        try:
            code = self._rtnl.request((vip, index))
        except OSError as exc:
            raise KernelError(f"cannot add {vip.address} on {vip.ifname}: {exc}") from exc
        if code == EEXIST:
            return False
        if code == ENODEV and self._index.pop(vip.ifname, None) is not None:
            return await self.add(vip)  # the interface was re-created: look it up again
        if code:
            reason = os.strerror(code)
            raise KernelError(f"cannot add {vip.address} on {vip.ifname}: {reason}")
        return True

    async def remove(self, vip: VipSpec) -> bool:
        """One hand-made RTM_DELADDR (``rtaddr``): at start, for every configured VIP. An
        interface that no longer exists took its addresses with it: nothing to remove."""
        if vip.ifname not in self._index and rtquery.index_of(vip.ifname) is None:
            return False
        index = await self.index(vip.ifname)
        try:
            code = self._rtnl.request((vip, index), delete=True)
        except OSError as exc:
            raise KernelError(f"cannot remove {vip.address} from {vip.ifname}: {exc}") from exc
        if code == ENODEV and self._index.pop(vip.ifname, None) is not None:
            return await self.remove(vip)  # the interface was re-created: look it up again
        if code in (EADDRNOTAVAIL, ENODEV):
            return False
        if code:
            reason = os.strerror(code)
            raise KernelError(f"cannot remove {vip.address} from {vip.ifname}: {reason}")
        return True

    async def addresses(self, ifname: str) -> set[IPInterface]:
        index = await self.index(ifname)
        try:
            records = rtquery.addresses(index)
        except OSError as exc:
            raise KernelError(f"cannot list the addresses of {ifname}: {exc}") from exc
        return {ip_interface(f"{ip_address(a.address)}/{a.prefixlen}") for a in records}

    async def removed(self) -> AsyncIterator[AddressGone]:
        """RTM_DELADDR notifications (``AddressWatchPort``), read by hand; first, and after
        the kernel dropped some (ENOBUFS), the "any may have gone" item."""
        groups = rtquery.RTMGRP_IPV4_IFADDR | rtquery.RTMGRP_IPV6_IFADDR
        async for sock, data in notifications(groups, "address", from_start=True):
            if data is None:
                yield AddressGone(ifname=None, address=None)
                continue
            for record in rtquery.removed_addresses(data):
                ifname = _ifname(sock, record.index)
                if ifname is None:  # the interface went with it
                    continue
                address = ip_interface(f"{ip_address(record.address)}/{record.prefixlen}")
                yield AddressGone(ifname=ifname, address=address)

    async def close(self) -> None:
        self._rtnl.close()


class NetlinkLinks:
    """``LinkPort`` over rtnetlink: the state now, and a stream of changes."""

    async def is_up(self, ifname: str) -> bool:
        index = rtquery.index_of(ifname)
        if index is None:
            return False
        try:
            state = rtquery.link_state(index)
        except OSError as exc:
            raise KernelError(f"cannot read the state of {ifname}: {exc}") from exc
        return state is not None and rtquery.link_is_up(*state)

    async def watch(self) -> AsyncIterator[LinkState]:
        """RTMGRP_LINK's notifications, read by hand (``rtquery.link_events``)."""
        async for _sock, data in notifications(rtquery.RTMGRP_LINK, "link"):
            if data is None:  # the kernel dropped some: read it all
                for state in await self._every_link():
                    yield state
                continue
            for name, up in rtquery.link_events(data):
                yield LinkState(ifname=name, up=up)

    async def _every_link(self) -> list[LinkState]:
        """The state of every interface now: after lost notifications, a link that went down
        meanwhile must not stay up for us."""
        states = []
        for _index, name in socket.if_nameindex():
            try:
                up = await self.is_up(name)
            except KernelError:  # gone since the listing
                up = False
            states.append(LinkState(ifname=name, up=up))
        return states


def _ifname(sock: socket.socket, index: int) -> str | None:
    """The name of interface ``index`` in ``sock``'s network namespace (SIOCGIFNAME on the
    socket itself: ``socket.if_indextoname`` would ask the thread's namespace, which is not
    the socket's when it was opened inside another)."""
    request = struct.pack("16si20x", b"", index)  # struct ifreq: name, then ifr_ifindex
    try:
        answer = fcntl.ioctl(sock.fileno(), SIOCGIFNAME, request)
    except OSError:
        return None
    return answer[:16].split(b"\0", 1)[0].decode(errors="replace")
