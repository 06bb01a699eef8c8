"""Netlink adapters: virtual addresses and link state.

Rules: with ``rtaddr`` (the VIP add, on the takeover path) and ``rtquery`` (what VRRP's start
asks: an interface's index, addresses and state), the only module that talks rtnetlink for
VRRP. pyroute2's asyncio IPRoute (heavy to import) serves the rest: removing an address and
the stream of link changes, imported when first needed. Idempotent where the kernel lets us be:
adding an address that is there, or removing one that is gone, is reported (False), not
raised. Any other netlink error becomes a ``KernelError`` naming the address and interface.
"""

import asyncio
import importlib
import os
from collections.abc import AsyncIterator
from ipaddress import ip_address, ip_interface
from typing import TYPE_CHECKING, Any

from pyroute2.netlink.exceptions import NetlinkError

from pykeepalived.errors import KernelError
from pykeepalived.kernel import rtquery
from pykeepalived.kernel.ports import IPInterface, LinkState, VipSpec
from pykeepalived.kernel.rtaddr import RtnlSocket

if TYPE_CHECKING:
    from pyroute2.iproute.linux import AsyncIPRoute

EEXIST, EADDRNOTAVAIL, ENODEV = 17, 99, 19
RTMGRP_LINK = 0x1


class NetlinkAddresses:
    """``AddressPort`` over rtnetlink."""

    def __init__(self) -> None:
        self._ipr: AsyncIPRoute | None = None
        # ifname -> ifindex: a lookup would be paid on the takeover path otherwise; an entry
        # is dropped when the kernel says the index is gone.
        self._index: dict[str, int] = {}
        self._rtnl = RtnlSocket()

    async def _route(self) -> "AsyncIPRoute":
        if self._ipr is None:
            self._ipr = (await _iproute_class())()
            await self._ipr.setup_endpoint()
        return self._ipr

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
        ipr = await self._route()
        index = await self.index(vip.ifname)
        address = vip.address
        args: dict[str, Any] = {"address": str(address.ip)}
        if vip.peer is not None:  # a peer address is known to the kernel by its peer
            args = {"local": str(address.ip), "address": str(vip.peer.ip)}
        try:
            await ipr.addr("del", index=index, prefixlen=address.network.prefixlen, **args)
        except NetlinkError as exc:
            if exc.code == ENODEV and self._index.pop(vip.ifname, None) is not None:
                return await self.remove(vip)
            if exc.code in (EADDRNOTAVAIL, ENODEV):
                return False
            raise KernelError(f"cannot remove {address} from {vip.ifname}: {exc}") from exc
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
        if self._ipr is not None:
            self._ipr.close()
            self._ipr = None


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
        async with (await _iproute_class())() as ipr:
            await ipr.bind(groups=RTMGRP_LINK)
            while True:
                async for msg in ipr.get():
                    name = msg.get("IFLA_IFNAME")
                    if name is None:
                        continue
                    up = msg["event"] != "RTM_DELLINK" and _is_up(msg)
                    yield LinkState(ifname=str(name), up=up)


def _is_up(msg: Any) -> bool:
    """Administratively up and carrier present (operstate UP, or UNKNOWN for lo/tun)."""
    return bool(msg["flags"] & rtquery.IFF_UP) and msg.get("IFLA_OPERSTATE") in ("UP", "UNKNOWN")


async def _iproute_class() -> "type[AsyncIPRoute]":
    """pyroute2's AsyncIPRoute, its module imported in a worker thread the first time (~1 s
    under the IPVS VM's emulation: the event loop, VRRP's timers included, runs meanwhile)."""
    module = await asyncio.to_thread(importlib.import_module, "pyroute2.iproute.linux")
    cls: type[AsyncIPRoute] = module.AsyncIPRoute
    return cls
