"""VMAC interfaces: the macvlan keepalived's ``use_vmac`` puts on an instance's interface.

Rules: the only module that creates or deletes links. What it does is what keepalived does
(``vrrp_vmac.c`` ``netlink_link_add_vmac`` / ``netlink_link_del_vmac``, ``vrrp_if_config.c``):
a macvlan in *private* mode on the base interface (private mode delivers to it the frames whose
source MAC is its own, i.e. the peer master's adverts), MAC 00:00:5e:00:01:VRID (02 for IPv6),
the base's interface group, IPv6 off for an IPv4 instance and no automatic link-local address,
then up. Sysctls: on the VMAC arp_ignore=1 and, for IPv4, accept_local=1, rp_filter=0,
promote_secondaries=1; on the base arp_ignore=1 and arp_filter=1 (so only the VMAC answers ARP
for the VIP, with the virtual MAC), restored when its last VMAC goes; a non-zero
``all.rp_filter`` is moved onto every interface and cleared (an rp_filter of 0 on the VMAC only
counts when ``all`` is 0), restored likewise. IGMP / MLD reports the kernel would send from a
VMAC (joining 224.0.0.18 or ff02::12) go out of the base instead, and router solicitations not
at all, through nftables tables of ours (``ip``/``ip6 pykeepalived_vmac``, keepalived's "move
igmp" rules): a report from the backup's VMAC would teach the switches that the virtual MAC
lives at the backup. State is kept per adapter, which outlives a reload.
"""

import asyncio
import logging
import os
import shutil
from collections.abc import Iterable
from ipaddress import IPv6Address
from typing import TYPE_CHECKING

from pyroute2.netlink.exceptions import NetlinkError

from pykeepalived.errors import KernelError
from pykeepalived.kernel.ports import VmacSpec

if TYPE_CHECKING:
    from pyroute2.iproute.linux import AsyncIPRoute


def _iproute() -> "AsyncIPRoute":
    """pyroute2's IPRoute, imported when a VMAC is first handled (heavy: ~1 s under the IPVS
    VM's emulation, which VRRP's start does not wait for unless it has VMACs)."""
    from pyroute2.iproute.linux import AsyncIPRoute

    return AsyncIPRoute()


log = logging.getLogger("pykeepalived.vrrp")
ENODEV = 19
NFT_TABLE = "pykeepalived_vmac"
MLD_REPORTS = "{ mld-listener-report, mld2-listener-report }"
IN6_ADDR_GEN_MODE_NONE = 1


def sysctl_path(family: int, ifname: str, name: str) -> str:
    return f"/proc/sys/net/ipv{family}/conf/{ifname}/{name}"


def read_sysctl(family: int, ifname: str, name: str) -> int | None:
    try:
        with open(sysctl_path(family, ifname, name)) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def write_sysctl(family: int, ifname: str, name: str, value: int) -> None:
    try:
        with open(sysctl_path(family, ifname, name), "w") as f:
            f.write(str(value))
    except OSError as exc:
        raise KernelError(f"cannot set net.ipv{family}.conf.{ifname}.{name}: {exc}") from exc


class NetlinkVmacs:
    """``VmacPort`` over rtnetlink and /proc/sys (both of the namespace we run in)."""

    def __init__(self) -> None:
        self._ours: dict[str, VmacSpec] = {}
        self._base_saved: dict[str, tuple[int | None, int | None]] = {}
        self._base_users: dict[str, int] = {}
        self._rp_saved: dict[str, int] | None = None

    async def create(self, spec: VmacSpec) -> bool:
        """Make ``spec`` exist as described; True when a link was created (False: reused)."""
        async with _iproute() as ipr:
            base = await _index(ipr, spec.base)
            created = await self._ensure_link(ipr, spec, base)
            index = await _index(ipr, spec.ifname)
            if spec.family == 4:
                _write_v6(spec.ifname, "disable_ipv6", 1)
            else:
                _write_v6(spec.ifname, "addr_gen_mode", IN6_ADDR_GEN_MODE_NONE)
            self._set_sysctls(spec)
            await ipr.link("set", index=index, state="up")
            if spec.link_local is not None:
                await _add_link_local(ipr, index, spec.link_local)
        self._ours[spec.ifname] = spec
        await self._sync_nft()
        return created

    async def _ensure_link(self, ipr: "AsyncIPRoute", spec: VmacSpec, base: int) -> bool:
        found = await ipr.link_lookup(ifname=spec.ifname)
        if found:
            msg = (await ipr.link("get", index=found[0]))[0]
            info = msg.get("IFLA_LINKINFO")
            kind = info.get("IFLA_INFO_KIND") if info is not None else None
            if kind != "macvlan":
                raise KernelError(f"VMAC {spec.ifname} conflicts with an existing {kind or ''} "
                                  "interface")  # fmt: skip
            data = info.get("IFLA_INFO_DATA")
            mode = data.get("IFLA_MACVLAN_MODE") if data is not None else None
            same = (msg.get("IFLA_LINK") == base and mode == "private"
                    and str(msg.get("IFLA_ADDRESS")).lower() == spec.mac)  # fmt: skip
            if same:
                return False
            log.info("Removing old VMAC interface %s due to conflicting interface", spec.ifname)
            await ipr.link("del", index=found[0])
        group = spec.group
        if group is None:
            group = (await ipr.link("get", index=base))[0].get("IFLA_GROUP") or 0
        try:
            await ipr.link("add", ifname=spec.ifname, kind="macvlan", link=base,
                           macvlan_mode="private", address=spec.mac, group=group)  # fmt: skip
        except NetlinkError as exc:
            raise KernelError(f"cannot create VMAC interface {spec.ifname}: {exc}") from exc
        return True

    def _set_sysctls(self, spec: VmacSpec) -> None:
        write_sysctl(4, spec.ifname, "arp_ignore", 1)
        if spec.family == 6:
            return
        self._clear_rp_filter()
        for name, value in (("accept_local", 1), ("rp_filter", 0), ("promote_secondaries", 1)):
            write_sysctl(4, spec.ifname, name, value)
        if spec.ifname in self._ours:
            return  # already counted as a user of its base
        users = self._base_users.get(spec.base, 0)
        if users == 0:
            saved = (
                read_sysctl(4, spec.base, "arp_ignore"),
                read_sysctl(4, spec.base, "arp_filter"),
            )
            self._base_saved[spec.base] = saved
            write_sysctl(4, spec.base, "arp_ignore", 1)
            write_sysctl(4, spec.base, "arp_filter", 1)
        self._base_users[spec.base] = users + 1

    def _clear_rp_filter(self) -> None:
        """keepalived's clear_rp_filter: all.rp_filter > 0 would override the VMAC's 0."""
        if self._rp_saved is not None:
            return
        current = read_sysctl(4, "all", "rp_filter")
        if not current:
            return
        saved = {"all": current}
        for name in sorted(os.listdir("/proc/sys/net/ipv4/conf")):
            value = read_sysctl(4, name, "rp_filter")
            if name != "all" and value is not None and value < current:
                saved[name] = value
                write_sysctl(4, name, "rp_filter", current)
        log.info("NOTICE: setting sysctl net.ipv4.conf.all.rp_filter from %d to 0", current)
        write_sysctl(4, "all", "rp_filter", 0)
        self._rp_saved = saved

    async def remove(self, spec: VmacSpec) -> bool:
        """Delete the VMAC and undo the base's sysctls when it was their last user."""
        self._ours.pop(spec.ifname, None)
        if spec.family == 4:
            self._release_base(spec.base)
        removed = False
        async with _iproute() as ipr:
            found = await ipr.link_lookup(ifname=spec.ifname)
            if found:
                try:
                    await ipr.link("del", index=found[0])
                    removed = True
                except NetlinkError as exc:
                    if exc.code != ENODEV:
                        raise KernelError(f"cannot remove VMAC {spec.ifname}: {exc}") from exc
        if not self._ours:
            self._restore_rp_filter()
        await self._sync_nft()
        return removed

    async def _sync_nft(self) -> None:
        """Our two tables, rewritten whole (one ``nft -f -`` transaction that also replaces
        a copy a crash left); deleted when no VMAC is left. Not on the takeover path."""
        nft = shutil.which("nft")
        if nft is None:
            log.warning("nft not found: IGMP/MLD reports may leave the VMACs with the virtual MAC")
            return
        proc = await asyncio.create_subprocess_exec(
            nft, "-f", "-", stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        _, err = await proc.communicate(nft_script(self._ours.values()).encode())
        if proc.returncode != 0:
            log.error("cannot set the VMAC IGMP/MLD rules: %s", err.decode().strip())

    def _release_base(self, base: str) -> None:
        users = self._base_users.get(base, 0) - 1
        if users > 0:
            self._base_users[base] = users
            return
        self._base_users.pop(base, None)
        arp_ignore, arp_filter = self._base_saved.pop(base, (None, None))
        for name, value in (("arp_ignore", arp_ignore), ("arp_filter", arp_filter)):
            if value is not None and read_sysctl(4, base, name) is not None:
                write_sysctl(4, base, name, value)

    def _restore_rp_filter(self) -> None:
        saved, self._rp_saved = self._rp_saved, None
        if saved is None:
            return
        current = saved.pop("all")
        if read_sysctl(4, "all", "rp_filter") == 0:
            log.info("NOTICE: resetting sysctl net.ipv4.conf.all.rp_filter to %d", current)
            write_sysctl(4, "all", "rp_filter", current)
        for name, value in saved.items():
            if read_sysctl(4, name, "rp_filter") == current:
                write_sysctl(4, name, "rp_filter", value)


async def _index(ipr: "AsyncIPRoute", ifname: str) -> int:
    found = await ipr.link_lookup(ifname=ifname)
    if not found:
        raise KernelError(f"interface {ifname} does not exist")
    return int(found[0])


def _write_v6(ifname: str, name: str, value: int) -> None:
    if read_sysctl(6, ifname, name) is not None:  # no IPv6 in this kernel: nothing to do
        write_sysctl(6, ifname, name, value)


async def _add_link_local(ipr: "AsyncIPRoute", index: int, address: IPv6Address) -> None:
    """keepalived sends a VMAC's IPv6 adverts from the base's link-local address."""
    try:
        await ipr.addr("add", index=index, address=str(address), prefixlen=64, family=10,
                       flags=0x02)  # IFA_F_NODAD  # fmt: skip
    except NetlinkError as exc:
        if exc.code != 17:  # EEXIST
            raise KernelError(f"cannot add {address} to the VMAC: {exc}") from exc


def nft_script(vmacs: Iterable[VmacSpec]) -> str:
    """Both families' tables for ``vmacs`` (none: the tables go)."""
    specs = sorted(vmacs, key=lambda v: v.ifname)
    out: list[str] = []
    for family, rules in (("ip", _igmp_rules), ("ip6", _mld_rules)):
        out += [f"table {family} {NFT_TABLE} {{}}", f"delete table {family} {NFT_TABLE}"]
        if specs:
            out += [f"table {family} {NFT_TABLE} {{", "  chain out {",
                    "    type filter hook output priority -1; policy accept;"]  # fmt: skip
            out += [f"    {rule}" for spec in specs for rule in rules(spec)]
            out += ["  }", "}"]
    return "\n".join(out) + "\n"


def _igmp_rules(spec: VmacSpec) -> list[str]:
    match = f'oifname "{spec.ifname}" ip protocol igmp'
    return [f'{match} dup to ip daddr device "{spec.base}"', f"{match} drop"]


def _mld_rules(spec: VmacSpec) -> list[str]:
    match = f'oifname "{spec.ifname}" icmpv6 type'
    return [
        f'{match} {MLD_REPORTS} dup to ip6 daddr device "{spec.base}"',
        f"{match} {MLD_REPORTS} drop",
        f"{match} nd-router-solicit drop",
    ]
