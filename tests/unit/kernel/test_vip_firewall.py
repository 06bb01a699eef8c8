"""The VIP firewall's nft script and nfnetlink batch (pure): our own table, keepalived's
drop semantics."""

import struct
from ipaddress import ip_interface

from pykeepalived.kernel.ports import VipSpec
from pykeepalived.kernel.vip_firewall import element, key_bytes, setelem_batch, table_script


def vip(text: str, ifname: str = "eth1") -> VipSpec:
    return VipSpec(address=ip_interface(text), ifname=ifname)


def test_elements_by_family_and_scope() -> None:
    assert element(vip("192.168.88.100/24")) == ("vips4", "192.168.88.100")
    assert element(vip("fd00::100/64")) == ("vips6", "fd00::100")
    assert element(vip("fe80::100/64", "eth2")) == ("vips6ll", 'fe80::100 . "eth2"')


def test_table_script_replaces_our_table_only() -> None:
    script = table_script("t", [element(vip("192.168.88.100/24"))])
    lines = script.splitlines()
    assert lines[:3] == ["table inet t {}", "delete table inet t", "table inet t {"]
    assert all(" t " in f" {line} " or not line.startswith(("table", "delete", "add"))
               for line in lines)  # fmt: skip
    # input drops packets to the VIPs, output packets from them; VRRP and ND go through first
    assert script.index("meta l4proto vrrp accept") < script.index("ip daddr @vips4 counter drop")
    assert "ip saddr @vips4 counter drop" in script
    assert "ip6 daddr . iifname @vips6ll counter drop" in script
    assert "hook input priority -1" in script
    assert "hook output priority -1" in script
    assert lines[-1] == "add element inet t vips4 { 192.168.88.100 }"


def test_setelem_batch_layout() -> None:
    """begin / NEWSETELEM (inet, ack asked) / end, as nft sends them."""
    key = key_bytes(vip("fe80::1/64", "eth1"))
    assert len(key) == 32
    assert key.endswith(b"eth1" + b"\0" * 12)
    batch = setelem_batch("t", "vips6ll", [key], add=True, seq=7)
    kinds = []
    offset = 0
    while offset < len(batch):
        length, kind, flags, seq, _ = struct.unpack_from("=IHHII", batch, offset)
        kinds.append((kind, flags & 0x4, seq))
        offset += length
    assert kinds == [(0x10, 0, 7), ((10 << 8) | 12, 0x4, 8), (0x11, 0, 9)]
    assert key in batch
    assert b"vips6ll\0" in batch
