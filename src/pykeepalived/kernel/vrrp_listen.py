"""VRRP receive sockets, and listening for adverts from the first instant of the process.

Rules: standard library only (``socket``, ``struct``, ``time``): ``listen_early`` runs before
the daemon's other modules are imported, which under slow CPUs (an emulated VM) takes seconds.
Nothing here decodes VRRP.

Why listen early: an instance starts in BACKUP and may claim mastership only after hearing no
better master for Master_Down_Interval (RFC 5798 section 6.4.2). keepalived is ready to listen
~0.01 s after exec; pykeepalived's imports take 0.1-0.3 s on real CPUs and 3 s or more in the
emulated IPVS test VM, so the timer started that much later and a preempting master came back
late. Sockets opened here, one per (interface, family), bound to the device and joined to the
VRRP group, let the kernel queue every advert from the start, stamped with its arrival; the
driver adopts them (``VrrpSocket``), replays what they queued and counts Master_Down_Interval
from when listening began. A queue that overflowed (the socket's drop count, ``SO_MEMINFO``)
says so, and the driver then waits a whole interval as before.
"""

import contextlib
import socket
import struct
import time

IPPROTO_VRRP = 112
MCAST_V4 = socket.inet_pton(socket.AF_INET, "224.0.0.18")
MCAST_V6 = socket.inet_pton(socket.AF_INET6, "ff02::12")
SO_BINDTODEVICE = getattr(socket, "SO_BINDTODEVICE", 25)
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # also the SCM type of the stamp
SO_MEMINFO = 55  # struct of u32 counters, SK_MEMINFO_DROPS the 9th (Linux 4.6)
SK_MEMINFO_DROPS = 8
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
IPV6_RECVHOPLIMIT = getattr(socket, "IPV6_RECVHOPLIMIT", 51)
IPV6_RECVPKTINFO = getattr(socket, "IPV6_RECVPKTINFO", 49)
EARLY_RCVBUF = 1 << 20  # seconds of adverts from many routers while the daemon imports
MAX_EARLY_INTERFACES = 64  # beyond that, no early listening (two sockets per interface)


def open_receiver(ifname: str, ifindex: int, family: int, group: bytes | None) -> socket.socket:
    """A non-blocking raw VRRP socket on ``ifname``, stamping each datagram with its arrival;
    joined to ``group`` (packed address) unless None."""
    sock = socket.socket(family, socket.SOCK_RAW, IPPROTO_VRRP)
    try:
        sock.setblocking(False)
        sock.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, ifname.encode())
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1)
            sock.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVPKTINFO, 1)
        if group is not None:
            change_membership(sock, family, ifindex, group, join=True)
    except OSError:
        sock.close()
        raise
    return sock


def change_membership(
    sock: socket.socket, family: int, ifindex: int, group: bytes, *, join: bool
) -> None:
    if family == socket.AF_INET:
        option = socket.IP_ADD_MEMBERSHIP if join else socket.IP_DROP_MEMBERSHIP
        mreqn = group + b"\0\0\0\0" + struct.pack("@i", ifindex)
        sock.setsockopt(socket.IPPROTO_IP, option, mreqn)
    else:
        option = socket.IPV6_JOIN_GROUP if join else socket.IPV6_LEAVE_GROUP
        sock.setsockopt(socket.IPPROTO_IPV6, option, group + struct.pack("@I", ifindex))


def dropped(sock: socket.socket) -> int | None:
    """How many datagrams the kernel could not queue on ``sock`` (None: it cannot say)."""
    try:
        info = sock.getsockopt(socket.SOL_SOCKET, SO_MEMINFO, 4 * (SK_MEMINFO_DROPS + 1))
    except OSError:
        return None
    if len(info) < 4 * (SK_MEMINFO_DROPS + 1):
        return None
    return int(struct.unpack_from("@I", info, 4 * SK_MEMINFO_DROPS)[0])


def default_group(family: int) -> bytes:
    return MCAST_V4 if family == socket.AF_INET else MCAST_V6


class EarlyReceivers:
    """Receive sockets opened at process start, waiting to be adopted, each with the instant
    (``time.monotonic()``) from which it has been queueing adverts."""

    def __init__(self, sockets: dict[tuple[str, int], tuple[socket.socket, int]]) -> None:
        self._sockets = sockets  # (ifname, family) -> (socket, ifindex)
        self.since = time.monotonic()  # every socket is open and joined by now

    @classmethod
    def listen(
        cls, max_interfaces: int = MAX_EARLY_INTERFACES, rcvbuf: int = EARLY_RCVBUF
    ) -> "EarlyReceivers":
        """On every interface but loopback, IPv4 and IPv6 where each works; nothing at all on
        a machine with more than ``max_interfaces`` (the config would say which, but reading
        it is what takes the time)."""
        interfaces = [(i, n) for i, n in socket.if_nameindex() if n != "lo"]
        sockets: dict[tuple[str, int], tuple[socket.socket, int]] = {}
        if len(interfaces) <= max_interfaces:
            for ifindex, ifname in interfaces:
                for family in (socket.AF_INET, socket.AF_INET6):
                    with contextlib.suppress(OSError):  # no IPv6 there, interface gone, ...
                        sock = open_receiver(ifname, ifindex, family, default_group(family))
                        _enlarge(sock, rcvbuf)
                        sockets[(ifname, family)] = (sock, ifindex)
        return cls(sockets)

    def take(self, ifname: str, family: int, ifindex: int) -> socket.socket | None:
        """The socket queueing adverts on ``ifname`` (joined to the default group), if it is
        still the same interface; the caller owns it from now on."""
        entry = self._sockets.pop((ifname, family), None)
        if entry is None:
            return None
        sock, index = entry
        if index != ifindex:  # renamed or re-created since: not the same queue
            sock.close()
            return None
        return sock

    def close(self) -> None:
        """Close what nobody adopted (idempotent)."""
        for sock, _index in self._sockets.values():
            sock.close()
        self._sockets.clear()

    def __len__(self) -> int:
        return len(self._sockets)


def _enlarge(sock: socket.socket, size: int) -> None:
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, size)  # root: past rmem_max
    except OSError:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
