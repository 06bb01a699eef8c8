"""Netlink adapters: virtual addresses and link state.

Rules: with ``rtaddr`` (the VIP add, on the takeover path) and ``rtquery`` (what VRRP's start
asks: an interface's index, addresses and state), the only module that talks rtnetlink for
VRRP, by hand: pyroute2's IPRoute took ~1 s to import under the IPVS VM's emulation, before
VRRP could start. Idempotent where the kernel lets us be:
adding an address that is there, or removing one that is gone, is reported (False), not
raised. Any other netlink error becomes a ``KernelError`` naming the address and interface.
"""

import asyncio
import errno
import os
import socket
from collections.abc import AsyncIterator
from ipaddress import ip_address, ip_interface

from pykeepalived.errors import KernelError
from pykeepalived.kernel import rtquery
from pykeepalived.kernel.ports import IPInterface, LinkState, VipSpec
from pykeepalived.kernel.rtaddr import RtnlSocket

EEXIST, EADDRNOTAVAIL, ENODEV = 17, 99, 19


class NetlinkAddresses:
    """``AddressPort`` over rtnetlink."""

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
        """One hand-made RTM_DELADDR (``rtaddr``): at start, for every configured VIP."""
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
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
        try:
            sock.setblocking(False)
            sock.bind((0, rtquery.RTMGRP_LINK))
            loop = asyncio.get_running_loop()
            while True:
                try:
                    data = await loop.sock_recv(sock, 1 << 16)
                except OSError as exc:
                    if exc.errno == errno.ENOBUFS:  # the kernel dropped some: read on
                        continue
                    raise KernelError(f"link notifications: {exc}") from exc
                for name, up in rtquery.link_events(data):
                    yield LinkState(ifname=name, up=up)
        finally:
            sock.close()
