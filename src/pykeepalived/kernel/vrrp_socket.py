"""VRRP sockets: raw IP protocol 112 on one interface, multicast or unicast.

Rules: one adapter per (interface, family). Receiving uses its own socket, bound to the device
and joined to 224.0.0.18 / ff02::12; sending uses another, bound to the source address (binding
a raw socket to an address would filter out the multicast we must receive). TTL / hop limit is
255 both ways (RFC 5798 section 5.1.1.3: receivers drop anything else). Nothing here decodes
VRRP: it hands bytes and addressing facts to the driver.
"""

import asyncio
import contextlib
import socket
import struct
import time
from collections.abc import Sequence
from ipaddress import IPv4Address, IPv6Address, ip_address

from pykeepalived.errors import KernelError
from pykeepalived.kernel.ports import IPAddress, Received

IPPROTO_VRRP = 112
MCAST_V4 = IPv4Address("224.0.0.18")
MCAST_V6 = IPv6Address("ff02::12")
SO_BINDTODEVICE = getattr(socket, "SO_BINDTODEVICE", 25)
IPV6_RECVHOPLIMIT = getattr(socket, "IPV6_RECVHOPLIMIT", 51)
IPV6_HOPLIMIT = getattr(socket, "IPV6_HOPLIMIT", 52)
IPV6_RECVPKTINFO = getattr(socket, "IPV6_RECVPKTINFO", 49)
IPV6_PKTINFO = getattr(socket, "IPV6_PKTINFO", 50)
MAX_DATAGRAM = 2048
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # also the SCM type of the stamp


class VrrpSocket:
    """Send and receive VRRP on ``ifname`` from ``src``; ``group`` is the multicast group or
    None for unicast-only instances."""

    def __init__(
        self,
        ifname: str,
        src: IPAddress,
        *,
        group: IPAddress | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.ifname = ifname
        self.src = src
        self.family = socket.AF_INET if src.version == 4 else socket.AF_INET6
        self._loop = loop or asyncio.get_running_loop()
        self._queue: asyncio.Queue[Received] = asyncio.Queue(maxsize=1024)
        self._unicast_ttl = 255  # as the sender is opened; unicast_ttl changes it
        try:
            self._ifindex = socket.if_nametoindex(ifname)
            self._rx = self._open_receiver(group)
            self._tx = self._open_sender()
        except OSError as exc:
            raise KernelError(f"cannot open VRRP socket on {ifname}: {exc.strerror}") from exc
        self._loop.add_reader(self._rx.fileno(), self._on_readable)

    def _open_receiver(self, group: IPAddress | None) -> socket.socket:
        sock = socket.socket(self.family, socket.SOCK_RAW, IPPROTO_VRRP)
        sock.setblocking(False)
        sock.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, self.ifname.encode())
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)  # when each advert came in
        if self.family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1)
            sock.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVPKTINFO, 1)
        if group is not None:
            self._join(sock, group)
        return sock

    def _join(self, sock: socket.socket, group: IPAddress) -> None:
        if isinstance(group, IPv4Address):
            mreqn = group.packed + b"\0\0\0\0" + struct.pack("@i", self._ifindex)
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreqn)
        else:
            mreq6 = group.packed + struct.pack("@I", self._ifindex)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, mreq6)

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
            raise KernelError(f"cannot send VRRP on {self.ifname}: {exc.strerror}") from exc

    async def receive(self) -> Received:
        return await self._queue.get()

    def _on_readable(self) -> None:
        for _ in range(64):  # bounded: never starve the loop under a flood
            try:
                data, ancillary, _flags, address = self._rx.recvmsg(MAX_DATAGRAM, 256)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
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
