"""The lab's ECMP router: BIRD 2 peering with every director, paths merged into one route.

Rules: ``render`` is pure (the config text). What makes ECMP work, measured on this project's
machines: ``merge paths yes`` in the kernel protocol (equal BGP paths become one multipath
route); ``fib_multipath_hash_policy=3`` with ``fib_multipath_hash_fields=0x0037`` (source and
destination address, protocol, ports: a real 5-tuple hash on veth); ``error wait time 1,2``
and ``connect delay time 1`` (BIRD's defaults wait too long before a director rejoins).
"""

from collections.abc import Sequence
from dataclasses import dataclass

ROUTER_AS = 65000
DIRECTOR_AS = 65001
SYSCTLS = {
    "net.ipv4.ip_forward": "1",
    "net.ipv4.fib_multipath_hash_policy": "3",
    "net.ipv4.fib_multipath_hash_fields": "0x0037",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class RouterSpec:
    router_id: str
    local: str
    peers: Sequence[tuple[str, str]]  # (name, address) of each director
    hold_time: int = 3
    bfd: bool = False
    bfd_interval_ms: int = 100
    bfd_multiplier: int = 3


def render(spec: RouterSpec) -> str:
    lines = [
        f"router id {spec.router_id};",
        "protocol device { scan time 10; }",
        "protocol kernel {",
        "    ipv4 { import none; export all; };",
        "    merge paths yes;",
        "}",
    ]
    if spec.bfd:
        lines += [
            "protocol bfd {",
            f'    interface "*" {{ min rx interval {spec.bfd_interval_ms} ms; '
            f"min tx interval {spec.bfd_interval_ms} ms; multiplier {spec.bfd_multiplier}; }};",
            "}",
        ]
    for name, address in spec.peers:
        lines += [
            f"protocol bgp {name.replace('-', '_')} {{",
            f"    local {spec.local} as {ROUTER_AS};",
            f"    neighbor {address} as {DIRECTOR_AS};",
            f"    hold time {spec.hold_time};",
            "    error wait time 1,2;",
            "    connect delay time 1;",
            f"    bfd {'on' if spec.bfd else 'off'};",
            "    ipv4 { import all; export none; };",
            "}",
        ]
    return "\n".join(lines) + "\n"
