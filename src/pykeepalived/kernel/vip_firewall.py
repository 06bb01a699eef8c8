"""VIP firewall: drop traffic to and from the VIPs of instances without accept mode.

Rules: keepalived's nftables semantics (``vrrp_nftables.c``), our own table and rules. While
an instance that has no accept mode (``no_accept``, or ``vrrp_strict`` without ``accept``, and
not the address owner) holds its VIPs, their addresses are in our sets: packets to them are
dropped in the ``input`` hook and packets from them in the ``output`` hook (RFC 5798 6.4.3:
a master without Accept_Mode must not accept packets addressed to the VIPs, it only routes
for them). VRRP itself and IPv6 neighbour discovery stay allowed, so the VIPs still resolve.
Link-local IPv6 VIPs are matched with their interface, as keepalived's ``vips_link_local``.

The table ``inet pykeepalived_vrrp`` is ours alone (never any other name). ``prepare`` makes
it with empty sets when the daemon starts (``nft -f -``, one transaction that also replaces a
stale copy left by a crash); a takeover then only adds set elements, over nfnetlink directly
(one batch, well under a millisecond: an ``nft`` process costs tens of milliseconds on a
loaded machine, on the takeover path). ``close`` deletes the table at stop.
"""

import asyncio
import errno
import itertools
import socket
import struct
from collections.abc import Collection, Iterable
from ipaddress import IPv4Address, ip_address

from pykeepalived.errors import KernelError
from pykeepalived.kernel.nlwire import attr as _attr
from pykeepalived.kernel.nlwire import message, wait_ack
from pykeepalived.kernel.ports import VipSpec

TABLE = "pykeepalived_vrrp"
NETLINK_NETFILTER, NFNL_SUBSYS_NFTABLES, NFPROTO_INET = 12, 10, 1
NFNL_MSG_BATCH_BEGIN, NFNL_MSG_BATCH_END = 0x10, 0x11
NFT_MSG_NEWSETELEM, NFT_MSG_DELSETELEM = 12, 14
NLM_F_REQUEST, NLM_F_ACK, NLM_F_CREATE = 0x1, 0x4, 0x400
NLA_F_NESTED, IFNAMSIZ = 0x8000, 16
NFTA_SET_ELEM_LIST_TABLE, NFTA_SET_ELEM_LIST_SET, NFTA_SET_ELEM_LIST_ELEMENTS = 1, 2, 3
NFTA_LIST_ELEM, NFTA_SET_ELEM_KEY, NFTA_DATA_VALUE = 1, 1, 1
CHAIN_PRIORITY = -1  # keepalived's default vrrp_nf_chain_priority: before the filter tables
Key = tuple[str, str]  # (set name, element text)


def element(vip: VipSpec) -> Key:
    """The set and element that match ``vip``'s address."""
    ip = vip.address.ip
    if isinstance(ip, IPv4Address):
        return "vips4", str(ip)
    if ip.is_link_local:
        return "vips6ll", f'{ip} . "{vip.ifname}"'
    return "vips6", str(ip)


def table_script(table: str, elements: Iterable[Key], *, priority: int = CHAIN_PRIORITY) -> str:
    """The whole table with ``elements``; replaces any table of that name."""
    keys = sorted(set(elements))
    lines = [
        f"table inet {table} {{}}",
        f"delete table inet {table}",
        f"table inet {table} {{",
        "  set vips4 { type ipv4_addr; }",
        "  set vips6 { type ipv6_addr; }",
        "  set vips6ll { type ipv6_addr . ifname; }",
    ]
    for direction, hook, addr, dev in (("in", "input", "daddr", "iifname"),
                                       ("out", "output", "saddr", "oifname")):  # fmt: skip
        lines += [
            f"  chain {direction} {{",
            f"    type filter hook {hook} priority {priority}; policy accept;",
            "    meta l4proto vrrp accept",
            "    icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept",
            f"    ip {addr} @vips4 counter drop",
            f"    ip6 {addr} @vips6 counter drop",
            f"    ip6 {addr} . {dev} @vips6ll counter drop",
            "  }",
        ]
    lines.append("}")
    lines += [f"add element inet {table} {name} {{ {text} }}" for name, text in keys]
    return "\n".join(lines) + "\n"


def key_bytes(vip: VipSpec) -> bytes:
    """The set element's key as nf_tables stores it (an ifname is 16 bytes, zero-padded)."""
    packed = vip.address.ip.packed
    if element(vip)[0] == "vips6ll":
        return packed + vip.ifname.encode()[: IFNAMSIZ - 1].ljust(IFNAMSIZ, b"\0")
    return packed


def _message(kind: int, flags: int, seq: int, family: int, res_id: int, body: bytes) -> bytes:
    return message(kind, flags, seq, struct.pack("!BBH", family, 0, res_id) + body)


def setelem_batch(table: str, set_name: str, keys: Iterable[bytes], *, add: bool,
                  seq: int) -> bytes:  # fmt: skip
    """One nfnetlink batch adding (or deleting) ``keys`` in ``table``'s ``set_name``."""
    elements = b"".join(
        _attr(NFTA_LIST_ELEM | NLA_F_NESTED,
              _attr(NFTA_SET_ELEM_KEY | NLA_F_NESTED, _attr(NFTA_DATA_VALUE, key)))
        for key in keys
    )  # fmt: skip
    body = (
        _attr(NFTA_SET_ELEM_LIST_TABLE, table.encode() + b"\0")
        + _attr(NFTA_SET_ELEM_LIST_SET, set_name.encode() + b"\0")
        + _attr(NFTA_SET_ELEM_LIST_ELEMENTS | NLA_F_NESTED, elements)
    )
    kind = (NFNL_SUBSYS_NFTABLES << 8) | (NFT_MSG_NEWSETELEM if add else NFT_MSG_DELSETELEM)
    flags = NLM_F_REQUEST | NLM_F_ACK | (NLM_F_CREATE if add else 0)
    return (
        _message(NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, seq, 0, NFNL_SUBSYS_NFTABLES, b"")
        + _message(kind, flags, seq + 1, NFPROTO_INET, 0, body)
        + _message(NFNL_MSG_BATCH_END, NLM_F_REQUEST, seq + 2, 0, NFNL_SUBSYS_NFTABLES, b"")
    )


class NftVipFirewall:
    """The VIP firewall port: the table by the ``nft`` binary, elements over nfnetlink."""

    def __init__(self, *, table: str = TABLE, nft: str = "nft", timeout_s: float = 10.0) -> None:
        self._table = table
        self._nft = nft
        self._timeout_s = timeout_s
        self._wanted: dict[str, dict[Key, bytes]] = {}  # by instance
        self._installed: dict[Key, bytes] | None = None  # None: no table of ours
        self._lock = asyncio.Lock()
        self._sock: socket.socket | None = None
        self._seq = itertools.count(1, 3)

    async def prepare(self) -> None:
        """Our table with empty sets (replacing any stale one), before anything needs it."""
        async with self._lock:
            if self._installed is None:
                await self._run(table_script(self._table, ()))
                self._installed = {}

    async def set_dropped(self, instance: str, vips: Collection[VipSpec]) -> None:
        """``instance`` now wants exactly ``vips`` dropped (empty: none)."""
        async with self._lock:
            self._wanted[instance] = {element(v): key_bytes(v) for v in vips}
            wanted = {k: b for keys in self._wanted.values() for k, b in keys.items()}
            if self._installed is None:
                if not wanted:
                    return
                await self._run(table_script(self._table, wanted))  # not prepared: nft
                self._installed = wanted
                return
            installed = self._installed
            for key in sorted(set(installed) - set(wanted)):
                self._setelem(key[0], installed[key], add=False)
                del installed[key]
            for key in sorted(set(wanted) - set(installed)):
                self._setelem(key[0], wanted[key], add=True)
                installed[key] = wanted[key]

    async def restore(self) -> bool:
        """Our table again, with the elements wanted now, if it was made and is gone (the
        ``nft`` listing of it fails); True when it was gone."""
        async with self._lock:
            if self._installed is None:
                return False
            if await self._exec(("list", "table", "inet", self._table)) == 0:
                return False
            wanted = {k: b for keys in self._wanted.values() for k, b in keys.items()}
            await self._run(table_script(self._table, wanted))
            self._installed = dict(wanted)
            return True

    def _setelem(self, set_name: str, key: bytes, *, add: bool) -> None:
        """One element in or out, acknowledged by the kernel (blocking, sub-millisecond)."""
        if self._sock is None:
            self._sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
            self._sock.settimeout(self._timeout_s)
        seq = next(self._seq)
        try:
            self._sock.send(setelem_batch(self._table, set_name, [key], add=add, seq=seq))
            code = wait_ack(self._sock, seq + 1)
        except OSError as exc:
            raise KernelError(f"nfnetlink (VIP firewall): {exc}") from exc
        if code and not (code == errno.ENOENT and not add):
            what = ip_address(key[:4] if set_name == "vips4" else key[:16])
            verb = "add" if add else "remove"
            raise KernelError(
                f"cannot {verb} {what} in the VIP firewall: {errno.errorcode.get(code, code)}"
            )

    async def close(self) -> None:
        """Delete our table; nothing of ours stays in the ruleset."""
        async with self._lock:
            self._wanted.clear()
            if self._sock is not None:
                self._sock.close()
                self._sock = None
            if self._installed is not None:
                self._installed = None
                await self._run(f"delete table inet {self._table}\n")

    async def remove_table(self) -> bool:
        """Delete the table whoever left it (cleanup after a crash); False: there was none."""
        if await self._exec(("list", "table", "inet", self._table)) != 0:
            return False
        await self._run(f"table inet {self._table} {{}}\ndelete table inet {self._table}\n")
        self._installed = None
        return True

    async def _run(self, script: str) -> None:
        code, err = await self._nft_run(("-f", "-"), script.encode())
        if code != 0:
            raise KernelError(f"nft (VIP firewall) failed ({code}): {err.strip()[:500]}")

    async def _exec(self, args: tuple[str, ...]) -> int:
        code, _ = await self._nft_run(args, b"")
        return code

    async def _nft_run(self, args: tuple[str, ...], stdin: bytes) -> tuple[int, str]:
        try:
            proc = await asyncio.create_subprocess_exec(
                self._nft,
                *args,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )
        except FileNotFoundError:
            return 127, f"{self._nft}: not installed"
        try:
            async with asyncio.timeout(self._timeout_s):
                _, err = await proc.communicate(stdin)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            return -1, f"timed out after {self._timeout_s} s"
        return proc.returncode or 0, err.decode(errors="replace")
