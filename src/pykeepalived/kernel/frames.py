"""Frames: the bytes of a gratuitous ARP and of an unsolicited neighbour advertisement.

Rules: pure builders, no sockets. Layouts as keepalived sends them (``vrrp_arp.c``,
``vrrp_ndisc.c``): a broadcast ARP *request* whose sender and target IP are both the VIP; an
ICMPv6 neighbour advertisement to ff02::1 from the VIP with the Override flag and the target
link-layer address option, hop limit 255 (RFC 4861 section 4.4, 7.2.6).
"""

import struct
from ipaddress import IPv4Address, IPv6Address

ETH_P_ARP = 0x0806
ETH_P_IPV6 = 0x86DD
BROADCAST = b"\xff" * 6
ALL_NODES = IPv6Address("ff02::1")
ALL_NODES_MAC = b"\x33\x33\x00\x00\x00\x01"
ND_NEIGHBOR_ADVERT = 136
ND_OPT_TARGET_LINKADDR = 2
NA_FLAG_ROUTER = 0x80000000
NA_FLAG_OVERRIDE = 0x20000000


def gratuitous_arp(mac: bytes, address: IPv4Address) -> bytes:
    """Ethernet frame: ARP request, sender = target = ``address``, target MAC broadcast.

    +-------------------+-------------------+--------+
    | dst ff:ff:ff:ff:ff:ff | src MAC        | 0x0806 |
    +------+------+---+---+------+----------+--------+---------+-----------+
    | hrd 1 | pro 0x0800 | hln 6 | pln 4 | op 1 | sha | spa=VIP | tha=bcast | tpa=VIP |
    """
    _check_mac(mac)
    ip = address.packed
    arp = struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + mac + ip + BROADCAST + ip
    return BROADCAST + mac + struct.pack("!H", ETH_P_ARP) + arp


def unsolicited_na(mac: bytes, address: IPv6Address, *, router: bool = False) -> bytes:
    """Ethernet frame: IPv6 + ICMPv6 neighbour advertisement for ``address`` to all nodes."""
    _check_mac(mac)
    flags = NA_FLAG_OVERRIDE | (NA_FLAG_ROUTER if router else 0)
    option = struct.pack("!BB", ND_OPT_TARGET_LINKADDR, 1) + mac
    icmp = struct.pack("!BBHI", ND_NEIGHBOR_ADVERT, 0, 0, flags) + address.packed + option
    checksum = _icmpv6_checksum(address, ALL_NODES, icmp)
    icmp = icmp[:2] + struct.pack("!H", checksum) + icmp[4:]
    ip6 = struct.pack("!IHBB", 6 << 28, len(icmp), 58, 255) + address.packed + ALL_NODES.packed
    return ALL_NODES_MAC + mac + struct.pack("!H", ETH_P_IPV6) + ip6 + icmp


def _icmpv6_checksum(src: IPv6Address, dst: IPv6Address, icmp: bytes) -> int:
    pseudo = src.packed + dst.packed + struct.pack("!I3xB", len(icmp), 58)
    data = pseudo + icmp
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _check_mac(mac: bytes) -> None:
    if len(mac) != 6:
        raise ValueError(f"a MAC address has 6 bytes, not {len(mac)}")
