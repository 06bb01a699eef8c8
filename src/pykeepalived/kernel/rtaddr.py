"""RTM_NEWADDR by hand: the VIP add on the takeover path, without pyroute2's machinery;
RTM_DELADDR too (VRRP's start removes every configured VIP that a crash may have left).

Rules: ``newaddr`` is pure (bytes out); ``RtnlSocket`` sends one request and reads its
acknowledgement. rtnetlink handles RTM_NEWADDR synchronously inside ``send``, so the ack is
already queued when ``recv`` runs: a blocking socket costs the event loop ~0.1 ms, where the
asyncio pyroute2 round trip took 0.5-4 ms on a loaded machine (measured on a takeover).

Message (include/uapi/linux/if_addr.h)::

    nlmsghdr | ifaddrmsg (family u8, prefixlen u8, flags u8, scope u8, index u32)
    IFA_LOCAL (our address, IPv4) | IFA_ADDRESS (the address, or the peer) | IFA_LABEL
    (asciiz) | IFA_BROADCAST | IFA_FLAGS (u32: nodad, home, noprefixroute, mngtmpaddr,
    autojoin) | IFA_CACHEINFO (u32 preferred, u32 valid, u32 cstamp, u32 tstamp; seconds)

The flags above 0xff exist only in IFA_FLAGS. With IFA_F_MCAUTOJOIN the kernel joins the
multicast group of the address on the interface (and leaves it when the address goes);
IFA_CACHEINFO sets the preferred lifetime (valid: forever), as keepalived does for IPv6.
"""

import itertools
import socket
import struct

from pykeepalived.kernel.nlwire import attr as _attr
from pykeepalived.kernel.nlwire import message, wait_ack
from pykeepalived.kernel.ports import VipSpec

RTM_NEWADDR, RTM_DELADDR = 20, 21
NLM_F_REQUEST, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE = 0x1, 0x4, 0x200, 0x400
IFA_ADDRESS, IFA_LOCAL, IFA_LABEL, IFA_BROADCAST, IFA_CACHEINFO, IFA_FLAGS = 1, 2, 3, 4, 6, 8
SCOPES = {"global": 0, "site": 200, "link": 253, "host": 254, "nowhere": 255}
IFA_F_NODAD, IFA_F_HOMEADDRESS, IFA_F_NOPREFIXROUTE = 0x02, 0x10, 0x200
IFA_F_MANAGETEMPADDR, IFA_F_MCAUTOJOIN = 0x100, 0x400
INFINITY_LIFE_TIME = 0xFFFFFFFF


def newaddr(vip: VipSpec, index: int, seq: int, *, delete: bool = False) -> bytes:
    """RTM_NEWADDR for ``vip`` on interface ``index`` (create, fail if it exists); with
    ``delete``, the RTM_DELADDR that removes it (matched on local, address and prefix)."""
    address = vip.address
    family = socket.AF_INET if address.version == 4 else socket.AF_INET6
    flags = _flags(vip)
    scope = SCOPES[vip.scope] if vip.scope else 0
    head = struct.pack("=BBBBI", family, address.network.prefixlen, flags & 0xFF, scope, index)
    peer = vip.peer.ip if vip.peer is not None else address.ip
    attrs = _attr(IFA_LOCAL, address.ip.packed) + _attr(IFA_ADDRESS, peer.packed)
    if delete:
        return message(RTM_DELADDR, NLM_F_REQUEST | NLM_F_ACK, seq, head + attrs)
    if vip.label and family == socket.AF_INET:
        attrs += _attr(IFA_LABEL, vip.label.encode() + b"\0")
    if vip.broadcast is not None:
        attrs += _attr(IFA_BROADCAST, vip.broadcast.packed)
    if flags:
        attrs += _attr(IFA_FLAGS, struct.pack("=I", flags))
    if vip.preferred_lft_s is not None:
        info = struct.pack("=IIII", vip.preferred_lft_s, INFINITY_LIFE_TIME, 0, 0)
        attrs += _attr(IFA_CACHEINFO, info)
    nl_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL
    return message(RTM_NEWADDR, nl_flags, seq, head + attrs)


def _flags(vip: VipSpec) -> int:
    return (
        (IFA_F_NODAD if vip.nodad else 0)
        | (IFA_F_HOMEADDRESS if vip.home else 0)
        | (IFA_F_NOPREFIXROUTE if vip.noprefixroute else 0)
        | (IFA_F_MANAGETEMPADDR if vip.mngtmpaddr else 0)
        | (IFA_F_MCAUTOJOIN if vip.autojoin else 0)
    )


class RtnlSocket:
    """One rtnetlink socket of our own (opened lazily) for requests answered at once."""

    def __init__(self) -> None:
        self._sock: socket.socket | None = None
        self._seq = itertools.count(1)

    def request(self, build: "tuple[VipSpec, int]", *, delete: bool = False) -> int:
        """Send RTM_NEWADDR (RTM_DELADDR with ``delete``) for (vip, ifindex); the errno of
        the answer (0: done)."""
        if self._sock is None:
            self._sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
            self._sock.bind((0, 0))
            self._sock.settimeout(5.0)
        seq = next(self._seq)
        self._sock.send(newaddr(build[0], build[1], seq, delete=delete))
        return wait_ack(self._sock, seq)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
