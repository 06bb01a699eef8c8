"""Cut the golden adverts out of capture.pcap (written by capture.sh) into one hex file each.

Run from anywhere: ``python tests/data/vrrp/golden.py``. It keeps, per VRID, the first advert
with the configured priority and the first priority-0 advert (sent when keepalived stops), as
the whole IP packet (IPv4 or IPv6 header included) in lowercase hex on one line. It reads only
the bytes; the expected field values in golden.json were written by hand from
keepalived-capture.conf and tcpdump's own decode, so the tests do not check our decoder
against itself.
"""

import struct
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ETH_HEADER_LEN = 14
NAMES = {
    (18, False): "v2_ipv4_pass",
    (18, True): "v2_ipv4_pass_prio0",
    (51, False): "v3_ipv4",
    (51, True): "v3_ipv4_prio0",
    (52, False): "v3_ipv6",
    (52, True): "v3_ipv6_prio0",
    (19, False): "v2_ipv4_noauth",
    (61, False): "v3_ipv4_unicast",
    (62, False): "v3_ipv6_unicast",
}


def frames(pcap: bytes) -> list[bytes]:
    """Ethernet frames of a classic little-endian pcap file."""
    magic, _, _, _, _, _, linktype = struct.unpack_from("<IHHiIII", pcap, 0)
    if magic != 0xA1B2C3D4 or linktype != 1:
        raise SystemExit("expected a little-endian Ethernet pcap")
    out, offset = [], 24
    while offset < len(pcap):
        _, _, caplen, _ = struct.unpack_from("<IIII", pcap, offset)
        out.append(pcap[offset + 16 : offset + 16 + caplen])
        offset += 16 + caplen
    return out


def vrid_and_prio0(ip_packet: bytes) -> tuple[int, bool]:
    """The VRID and whether priority is 0, read straight from fixed offsets."""
    vrrp = ip_packet[(ip_packet[0] & 0x0F) * 4 :] if ip_packet[0] >> 4 == 4 else ip_packet[40:]
    return vrrp[1], vrrp[2] == 0


def main() -> None:
    chosen: dict[str, bytes] = {}
    for frame in frames((HERE / "capture.pcap").read_bytes()):
        packet = frame[ETH_HEADER_LEN:]
        name = NAMES.get(vrid_and_prio0(packet))
        if name and name not in chosen:
            chosen[name] = packet
    for name, packet in sorted(chosen.items()):
        (HERE / f"{name}.hex").write_text(packet.hex() + "\n")
        print(name, len(packet), packet.hex())
    missing = set(NAMES.values()) - set(chosen)
    if missing:
        sys.exit(f"not captured: {sorted(missing)}")


if __name__ == "__main__":
    main()
