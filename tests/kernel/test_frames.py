"""Gratuitous ARP and unsolicited NA frames have keepalived's layout and valid checksums."""

import struct
from ipaddress import IPv4Address, IPv6Address

import pytest

from pykeepalived.kernel.frames import gratuitous_arp, unsolicited_na

MAC = bytes.fromhex("02aabbccddee")


def test_gratuitous_arp_is_a_broadcast_request_for_the_vip_from_the_vip() -> None:
    frame = gratuitous_arp(MAC, IPv4Address("192.168.88.100"))
    assert len(frame) == 42
    assert frame[:6] == b"\xff" * 6
    assert frame[6:12] == MAC
    assert frame[12:14] == b"\x08\x06"
    hrd, pro, hln, pln, op = struct.unpack("!HHBBH", frame[14:22])
    assert (hrd, pro, hln, pln, op) == (1, 0x0800, 6, 4, 1)
    assert frame[22:28] == MAC
    assert frame[28:32] == frame[38:42] == IPv4Address("192.168.88.100").packed


def test_unsolicited_na_checksum_verifies() -> None:
    vip = IPv6Address("fd00::100")
    frame = unsolicited_na(MAC, vip)
    ip6, icmp = frame[14:54], frame[54:]
    assert frame[:6] == bytes.fromhex("333300000001")
    assert ip6[7] == 255  # hop limit
    assert icmp[0] == 136
    assert struct.unpack("!I", icmp[4:8])[0] == 0x20000000  # Override, not Router
    assert icmp[8:24] == vip.packed
    pseudo = ip6[8:40] + struct.pack("!I3xB", len(icmp), 58)
    data = pseudo + icmp
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    assert total == 0xFFFF


def test_a_mac_has_six_bytes() -> None:
    with pytest.raises(ValueError, match="6 bytes"):
        gratuitous_arp(b"\x01", IPv4Address("10.0.0.1"))
