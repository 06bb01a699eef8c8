"""rtnetlink queries by hand for VRRP's start: an interface's addresses and its link state.

Why not pyroute2 here: its ``iproute`` module (with traffic control, the request filters, its
mock engine) takes ~1 s to import under the IPVS VM's emulation, and VRRP asks these two things
before it can arm its timers (the interface's first address for the adverts, stale VIPs to
remove, whether the interface is up). Both are answered by the kernel at once, so a blocking
socket costs the event loop a fraction of a millisecond, as ``rtaddr``'s RTM_NEWADDR does.

Messages (include/uapi/linux/rtnetlink.h, if_addr.h, if_link.h)::

    nlmsghdr (len u32, type u16, flags u16, seq u32, pid u32)
    RTM_GETADDR dump:  ifaddrmsg (family u8, prefixlen u8, flags u8, scope u8, index u32)
                       answers: RTM_NEWADDR ... NLMSG_DONE; attribute IFA_ADDRESS
    RTM_DELADDR:       the same ifaddrmsg, multicast to RTMGRP_IPV4_IFADDR / IPV6_IFADDR
                       when an address goes; IFA_LOCAL (IPv4) is the address itself
    RTM_GETLINK:       ifinfomsg (family u8, pad u8, type u16, index i32, flags u32, change u32)
                       answer: RTM_NEWLINK with IFLA_OPERSTATE (u8), or NLMSG_ERROR
"""

import itertools
import socket
import struct
from collections.abc import Iterator
from dataclasses import dataclass

from pykeepalived.kernel import nlwire

RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK = 16, 17, 18
RTM_NEWADDR, RTM_DELADDR, RTM_GETADDR = 20, 21, 22
RTMGRP_LINK, RTMGRP_IPV4_IFADDR, RTMGRP_IPV6_IFADDR = 0x1, 0x10, 0x100
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
IFA_ADDRESS, IFA_LOCAL = 1, 2
IFLA_IFNAME, IFLA_OPERSTATE = 3, 16
IFF_UP = 0x1
# RFC 2863 operstates as the kernel numbers them (IF_OPER_*)
OPER_UNKNOWN, OPER_UP = 0, 6
TIMEOUT_S = 5.0


class RtQueryError(OSError):
    """The kernel answered with an error (``errno`` set) or not at all."""


@dataclass(frozen=True, slots=True)
class AddressRecord:
    """One RTM_NEWADDR of a dump: the attribute ``ip addr`` shows as the address."""

    family: int
    prefixlen: int
    index: int
    address: bytes  # IFA_ADDRESS (the peer on a point-to-point address)


def attributes(data: bytes, offset: int, end: int) -> Iterator[tuple[int, bytes]]:
    """(type, value) of each rtattr in ``data[offset:end]``."""
    while offset + 4 <= end:
        length, kind = struct.unpack_from("=HH", data, offset)
        if length < 4:
            return
        yield kind & 0x3FFF, data[offset + 4 : offset + length]  # without NLA_F_NESTED etc.
        offset += (length + 3) & ~3


def parse_addresses(data: bytes) -> Iterator[AddressRecord]:
    """The RTM_NEWADDR messages of one buffer (others are skipped)."""
    for kind, offset, end in _messages(data):
        if kind != RTM_NEWADDR or offset + 8 > end:
            continue
        family, prefixlen, _, _, index = struct.unpack_from("=BBBBI", data, offset)
        for attr, value in attributes(data, offset + 8, end):
            if attr == IFA_ADDRESS:
                yield AddressRecord(family, prefixlen, index, value)


def removed_addresses(data: bytes) -> Iterator[AddressRecord]:
    """The RTM_DELADDR notifications of one buffer: the address that went (IFA_LOCAL where
    there is one, as on an IPv4 address with a peer; else IFA_ADDRESS)."""
    for kind, offset, end in _messages(data):
        if kind != RTM_DELADDR or offset + 8 > end:
            continue
        family, prefixlen, _, _, index = struct.unpack_from("=BBBBI", data, offset)
        found = dict(attributes(data, offset + 8, end))
        address = found.get(IFA_LOCAL, found.get(IFA_ADDRESS))
        if address is not None:
            yield AddressRecord(family, prefixlen, index, address)


def parse_link(data: bytes) -> tuple[int, int | None] | None:
    """(flags, operstate or None) of the first RTM_NEWLINK in ``data``."""
    for kind, offset, end in _messages(data):
        if kind != RTM_NEWLINK or offset + 16 > end:
            continue
        flags = struct.unpack_from("=I", data, offset + 8)[0]
        oper = None
        for attr, value in attributes(data, offset + 16, end):
            if attr == IFLA_OPERSTATE and value:
                oper = value[0]
        return flags, oper
    return None


def link_events(data: bytes) -> Iterator[tuple[str, bool]]:
    """(name, up) of each RTM_NEWLINK / RTM_DELLINK in a buffer read from RTMGRP_LINK (a
    deleted link is down); messages without a name are skipped."""
    for kind, offset, end in _messages(data):
        if kind not in (RTM_NEWLINK, RTM_DELLINK) or offset + 16 > end:
            continue
        flags = struct.unpack_from("=I", data, offset + 8)[0]
        name, oper = None, None
        for attr, value in attributes(data, offset + 16, end):
            if attr == IFLA_IFNAME:
                name = value.split(b"\0", 1)[0].decode(errors="replace")
            elif attr == IFLA_OPERSTATE and value:
                oper = value[0]
        if name is not None:
            yield name, kind == RTM_NEWLINK and link_is_up(flags, oper)


def link_is_up(flags: int, operstate: int | None) -> bool:
    """Administratively up and carrier present (operstate UP, or UNKNOWN for lo/tun)."""
    return bool(flags & IFF_UP) and operstate in (OPER_UP, OPER_UNKNOWN)


def _messages(data: bytes) -> Iterator[tuple[int, int, int]]:
    """(type, payload offset, payload end) of each netlink message in ``data``."""
    for kind, _, offset, end in nlwire.messages(data):
        yield kind, offset, end


_seq = itertools.count(1)


def _query(kind: int, flags: int, body: bytes) -> Iterator[bytes]:
    """Send one request; yield the answer's buffers until NLMSG_DONE or the single reply."""
    seq = next(_seq)
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE) as sock:
        sock.settimeout(TIMEOUT_S)
        sock.bind((0, 0))
        sock.send(nlwire.message(kind, flags, seq, body))
        while True:
            try:
                data = sock.recv(1 << 16)
            except TimeoutError as exc:
                raise RtQueryError(f"no answer from the kernel to rtnetlink {kind}") from exc
            done = False
            for got, offset, _ in _messages(data):
                if got == nlwire.NLMSG_ERROR:
                    code = nlwire.error_code(data, offset)
                    if code:
                        raise RtQueryError(code, f"rtnetlink {kind}: error {code}")
                    done = True
                elif got == nlwire.NLMSG_DONE or not flags & NLM_F_DUMP:
                    done = True
            yield data
            if done:
                return


def addresses(index: int, family: int = socket.AF_UNSPEC) -> list[AddressRecord]:
    """The addresses of interface ``index`` (of ``family``), in the kernel's order."""
    body = struct.pack("=BBBBI", family, 0, 0, 0, 0)
    found: list[AddressRecord] = []
    for data in _query(RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, body):
        found += [a for a in parse_addresses(data) if a.index == index]
    return found


def link_state(index: int) -> tuple[int, int | None] | None:
    """(flags, operstate) of interface ``index``; None if it does not exist."""
    body = struct.pack("=BBHiII", socket.AF_UNSPEC, 0, 0, index, 0, 0)
    try:
        for data in _query(RTM_GETLINK, NLM_F_REQUEST, body):
            state = parse_link(data)
            if state is not None:
                return state
    except RtQueryError as exc:
        if exc.errno == 19:  # ENODEV
            return None
        raise
    return None


def index_of(ifname: str) -> int | None:
    """The interface's index in this network namespace, None if there is none by that name."""
    try:
        return socket.if_nametoindex(ifname)
    except OSError:
        return None
