"""Announce: send gratuitous ARPs and unsolicited neighbour advertisements on a link.

Rules: the only adapter that writes raw Ethernet frames (AF_PACKET); frame bytes come from
``frames``. One packet socket per interface, opened lazily, closed by ``close``.
"""

import errno
import fcntl
import socket
import struct
from ipaddress import IPv4Address, IPv6Address

from pykeepalived.errors import KernelError
from pykeepalived.kernel.frames import ETH_P_ARP, gratuitous_arp, unsolicited_na
from pykeepalived.kernel.ports import IPAddress

SIOCGIFHWADDR = 0x8927


def interface_mac(ifname: str) -> bytes:
    """The link's MAC through SIOCGIFHWADDR: asks the network namespace we run in (``/sys`` may
    belong to another one)."""
    request = struct.pack("16s16x", ifname.encode()[:15])
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            reply = fcntl.ioctl(sock.fileno(), SIOCGIFHWADDR, request)
    except OSError as exc:
        raise KernelError(f"cannot read the MAC address of {ifname}: {exc.strerror}") from exc
    return bytes(reply[18:24])


def ipv6_forwarding(ifname: str) -> bool:
    """keepalived sets the NA Router flag when the interface forwards IPv6."""
    try:
        with open(f"/proc/sys/net/ipv6/conf/{ifname}/forwarding") as f:
            return f.read().strip() == "1"
    except OSError:
        return False


class PacketAnnouncer:
    def __init__(self) -> None:
        self._sockets: dict[str, socket.socket] = {}

    def announce(self, ifname: str, address: IPAddress) -> None:
        mac = interface_mac(ifname)
        if isinstance(address, IPv4Address):
            frame = gratuitous_arp(mac, address)
        else:
            assert isinstance(address, IPv6Address)
            frame = unsolicited_na(mac, address, router=ipv6_forwarding(ifname))
        try:
            try:
                self._socket(ifname).send(frame)
            except OSError as exc:
                if exc.errno not in (errno.ENXIO, errno.ENODEV):
                    raise
                self._sockets.pop(ifname).close()  # bound to a device deleted since: again
                self._socket(ifname).send(frame)
        except OSError as exc:
            raise KernelError(f"cannot announce {address} on {ifname}: {exc.strerror}") from exc

    def _socket(self, ifname: str) -> socket.socket:
        sock = self._sockets.get(ifname)
        if sock is None:
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ARP))
            sock.bind((ifname, 0))
            self._sockets[ifname] = sock
        return sock

    def close(self) -> None:
        for sock in self._sockets.values():
            sock.close()
        self._sockets.clear()
