"""Golden adverts captured from keepalived 2.2.7 (tests/data/vrrp) and helpers to bend them."""

import json
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_address
from pathlib import Path
from typing import Any

from pykeepalived.vrrp.ipheader import Datagram, split_ipv4, split_ipv6
from pykeepalived.vrrp.packet import AuthType, Family, compute_checksum, pass_auth_data
from pykeepalived.vrrp.receive import Expected

DATA = Path(__file__).resolve().parents[2] / "data" / "vrrp"


@dataclass(frozen=True)
class Golden:
    name: str
    packet: bytes  # the whole IP packet
    datagram: Datagram
    fields: dict[str, Any]

    @property
    def payload(self) -> bytes:
        return self.datagram.payload

    def expected(self, **overrides: Any) -> Expected:
        """What a local instance configured like the capturing keepalived would accept."""
        f = self.fields
        values: dict[str, Any] = {
            "family": Family(f["family"]),
            "version": f["version"],
            "vrids": frozenset({f["vrid"]}),
            "advert_int_cs": f["advert_int_cs"],
            "auth_type": AuthType[f["auth_type"]],
            "auth_data": pass_auth_data(f["auth_pass"]) if f["auth_pass"] else b"",
            "addresses": tuple(ip_address(a) for a in f["addresses"]),
            "unicast": f.get("unicast", False),
        }
        values.update(overrides)
        return Expected(**values)


def load_goldens() -> list[Golden]:
    table = json.loads((DATA / "golden.json").read_text())
    out = []
    for name, fields in table.items():
        if name.startswith("_"):
            continue
        packet = bytes.fromhex((DATA / fields["file"]).read_text().strip())
        split = split_ipv4 if fields["family"] == 4 else split_ipv6
        out.append(Golden(name, packet, split(packet), fields))
    return out


GOLDENS = load_goldens()
GOLDEN = {g.name: g for g in GOLDENS}


def with_checksum(
    message: bytes, src: IPv4Address | IPv6Address, dst: IPv4Address | IPv6Address
) -> bytes:
    """``message`` with a correct checksum, so a test reaches the checks behind it."""
    if len(message) < 8:
        return message
    csum = compute_checksum(message, src=src, dst=dst)
    return message[:6] + csum.to_bytes(2, "big") + message[8:]


def patched(golden: Golden, offset: int, value: int) -> bytes:
    """The golden's VRRP message with one octet replaced and the checksum fixed up."""
    message = bytearray(golden.payload)
    message[offset] = value
    return with_checksum(bytes(message), golden.datagram.src, golden.datagram.dst)
