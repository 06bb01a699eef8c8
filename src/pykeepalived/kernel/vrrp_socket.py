"""VRRP sockets: raw IP protocol 112 on one interface, multicast or unicast.

Rules: one adapter per (interface, family). Receiving uses its own socket, bound to the device
and joined to 224.0.0.18 / ff02::12; sending uses another, bound to the source address (binding
a raw socket to an address would filter out the multicast we must receive). TTL / hop limit is
255 both ways (RFC 5798 section 5.1.1.3: receivers drop anything else). Nothing here decodes
VRRP: it hands bytes and addressing facts to the driver.
"""

import asyncio
import contextlib
import errno
import socket
import struct
import time
from collections.abc import Sequence
from ipaddress import IPv4Address, IPv6Address, ip_address

from pykeepalived.errors import KernelError
from pykeepalived.kernel.ports import EarlyReceived, IPAddress, Received
from pykeepalived.kernel.vrrp_listen import (
    IPPROTO_VRRP,
    SO_BINDTODEVICE,
    SO_TIMESTAMPNS,
    EarlyReceivers,
    change_membership,
    default_group,
    dropped,
    open_receiver,
)

MCAST_V4 = IPv4Address("224.0.0.18")
MCAST_V6 = IPv6Address("ff02::12")
IPV6_HOPLIMIT = getattr(socket, "IPV6_HOPLIMIT", 52)
IPV6_PKTINFO = getattr(socket, "IPV6_PKTINFO", 50)
MAX_DATAGRAM = 2048
MAX_EARLY_ADVERTS = 4096  # a bound on the replay: a 1 MiB queue holds ~1,400 adverts
GONE = (errno.ENODEV, errno.ENXIO)  # the device the socket was bound to no longer exists


class VrrpSocket:
    """Send and receive VRRP on ``ifname`` from ``src``; ``group`` is the multicast group or
    None for unicast-only instances. With ``early``, the receive socket listening on
    ``ifname`` since process start is adopted, and ``take_early`` hands over what it queued."""

    def __init__(
        self,
        ifname: str,
        src: IPAddress,
        *,
        group: IPAddress | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
        early: EarlyReceivers | None = None,
    ) -> None:
        self.ifname = ifname
        self.src = src
        self.family = socket.AF_INET if src.version == 4 else socket.AF_INET6
        self._loop = loop or asyncio.get_running_loop()
        self._queue: asyncio.Queue[Received] = asyncio.Queue(maxsize=1024)
        self._unicast_ttl = 255  # as the sender is opened; unicast_ttl changes it
        self._early_since: float | None = None
        self._reading = False  # an adopted socket is read by take_early first
        self._group = group
        try:
            self._ifindex = socket.if_nametoindex(ifname)
            self._rx = self._adopt(early, group) or self._open_receiver(group)
            self._tx = self._open_sender()
        except OSError as exc:
            raise KernelError(f"cannot open VRRP socket on {ifname}: {exc.strerror}") from exc

    def _open_receiver(self, group: IPAddress | None) -> socket.socket:
        packed = None if group is None else group.packed
        sock = open_receiver(self.ifname, self._ifindex, self.family, packed)
        self._loop.add_reader(sock.fileno(), self._on_readable)
        self._reading = True
        return sock

    def _read_by_loop(self) -> None:
        if not self._reading:
            self._loop.add_reader(self._rx.fileno(), self._on_readable)
            self._reading = True

    def _adopt(self, early: EarlyReceivers | None, group: IPAddress | None) -> socket.socket | None:
        """The early socket joined the default group: fine for it, left for unicast; another
        configured group (vrrp_mcast_group4/6) is not what it queued, so it is not adopted."""
        default = default_group(self.family)
        if early is None or (group is not None and group.packed != default):
            return None
        sock = early.take(self.ifname, self.family, self._ifindex)
        if sock is None:
            return None
        if group is None:
            change_membership(sock, self.family, self._ifindex, default, join=False)
        self._early_since = early.since
        return sock  # read by take_early first, then by the loop

    def take_early(self) -> EarlyReceived | None:
        """What the adopted socket queued since process start, in arrival order (once)."""
        if self._early_since is None:
            return None
        since, self._early_since = self._early_since, None
        adverts: list[Received] = []
        while len(adverts) < MAX_EARLY_ADVERTS:
            received = self._read_one()
            if received is None:
                break
            adverts.append(received)
        complete = dropped(self._rx) == 0 and len(adverts) < MAX_EARLY_ADVERTS
        self._read_by_loop()
        adverts.sort(key=lambda r: r.arrived if r.arrived is not None else float("inf"))
        return EarlyReceived(since=since, adverts=tuple(adverts), complete=complete)

    def _read_one(self) -> Received | None:
        """One datagram off the socket, skipping unreadable sources; None when it is empty."""
        for _ in range(64):
            try:
                data, ancillary, _flags, address = self._rx.recvmsg(MAX_DATAGRAM, 256)
            except OSError:  # BlockingIOError: empty
                return None
            received = self._received(data, ancillary, address)
            if received is not None:
                return received
        return None

    def _open_sender(self) -> socket.socket:
        sock = socket.socket(self.family, socket.SOCK_RAW, IPPROTO_VRRP)
        sock.setblocking(False)
        sock.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, self.ifname.encode())
        if self.family == socket.AF_INET:
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 255)
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, 255)
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
            mreqn = b"\0\0\0\0" + self.src.packed + struct.pack("@i", self._ifindex)
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, mreqn)
            sock.bind((str(self.src), 0))
        else:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, 255)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 0)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, self._ifindex)
            sock.bind((str(self.src), 0, 0, self._ifindex))
        return sock

    def send(self, payload: bytes, dst: IPAddress, *, ttl: int = 255) -> None:
        target: tuple[str, int] | tuple[str, int, int, int] = (str(dst), 0)
        if self.family == socket.AF_INET6:
            target = (str(dst), 0, 0, self._ifindex)
        try:
            if ttl != self._unicast_ttl and not dst.is_multicast:
                if self.family == socket.AF_INET:
                    self._tx.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
                else:
                    self._tx.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, ttl)
                self._unicast_ttl = ttl
            self._tx.sendto(payload, target)
        except OSError as exc:
            if exc.errno in GONE and self.follow_interface():
                return self.send(payload, dst, ttl=ttl)  # the interface was made again
            raise KernelError(f"cannot send VRRP on {self.ifname}: {exc.strerror}") from exc

    def follow_interface(self) -> bool:
        """Re-open both sockets if ``ifname`` is now another interface (deleted and made
        again: a bond, VLAN or veth re-created by the network's manager). Sockets stay bound
        to the interface index they were opened on, so without this the instance would hear
        nothing and send nothing there: a split brain. True when it re-opened."""
        try:
            index = socket.if_nametoindex(self.ifname)
        except OSError:
            return False  # still gone
        if index == self._ifindex:
            return False
        old_rx, old_tx, old_index, reading = self._rx, self._tx, self._ifindex, self._reading
        try:
            self._ifindex = index
            self._rx = self._open_receiver(self._group)
            self._tx = self._open_sender()
        except OSError as exc:
            self._ifindex = old_index  # tried again at the next send or link change
            raise KernelError(f"cannot re-open VRRP on {self.ifname}: {exc.strerror}") from exc
        finally:
            if self._rx is not old_rx:
                if reading:
                    with contextlib.suppress(ValueError, RuntimeError):
                        self._loop.remove_reader(old_rx.fileno())
                old_rx.close()
            if self._tx is not old_tx:
                old_tx.close()
        self._early_since = None
        return True

    async def receive(self) -> Received:
        self._early_since = None  # too late for take_early: what it queued is read now
        self._read_by_loop()
        return await self._queue.get()

    def _on_readable(self) -> None:
        for _ in range(64):  # bounded: never starve the loop under a flood
            try:
                data, ancillary, _flags, address = self._rx.recvmsg(MAX_DATAGRAM, 256)
            except OSError:  # BlockingIOError: drained
                return
            received = self._received(data, ancillary, address)
            if received is not None and not self._queue.full():
                self._queue.put_nowait(received)

    def _received(
        self, data: bytes, ancillary: Sequence[tuple[int, int, bytes]], address: tuple[object, ...]
    ) -> Received | None:
        try:
            src = ip_address(str(address[0]).split("%", 1)[0])
        except ValueError:
            return None
        arrived = _arrival(ancillary)
        if self.family == socket.AF_INET:
            return Received(data=data, src=src, dst=None, ttl=None, has_ip_header=True,
                            arrived=arrived)  # fmt: skip
        hop_limit, dst = _ipv6_ancillary(ancillary)
        return Received(data=data, src=src, dst=dst, ttl=hop_limit, has_ip_header=False,
                        arrived=arrived)  # fmt: skip

    def close(self) -> None:
        with contextlib.suppress(ValueError, RuntimeError):
            self._loop.remove_reader(self._rx.fileno())
        self._rx.close()
        self._tx.close()


def _arrival(ancillary: Sequence[tuple[int, int, bytes]]) -> float | None:
    """The kernel's receive stamp (wall clock), moved to ``time.monotonic()``."""
    for level, kind, value in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(value) >= 16:
            sec, nsec = struct.unpack("@qq", value[:16])
            return float(time.monotonic() - (time.time() - (sec + nsec / 1e9)))
    return None


def _ipv6_ancillary(
    ancillary: Sequence[tuple[int, int, bytes]],
) -> tuple[int | None, IPAddress | None]:
    hop_limit: int | None = None
    dst: IPAddress | None = None
    for level, kind, value in ancillary:
        if level != socket.IPPROTO_IPV6:
            continue
        if kind == IPV6_HOPLIMIT and len(value) >= 4:
            hop_limit = struct.unpack("@i", value[:4])[0]
        elif kind == IPV6_PKTINFO and len(value) >= 16:
            dst = IPv6Address(value[:16])
    return hop_limit, dst
