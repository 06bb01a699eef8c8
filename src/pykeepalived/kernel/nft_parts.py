"""The pieces of our nft tables that do not depend on a scheduler: the body being built,
the service lookups (verdict maps), the NAT traffic counters, and the remembered flows and
clients (dynamic sets, the lookups that pin to them, removed real servers' draining chains).

Rules: pure text building for ``nft_rules``; no I/O.
"""

from collections.abc import Iterable, Mapping

from pykeepalived.kernel.nft_sets import dynamic_set, set_comment, set_name
from pykeepalived.lvs.table import DestKey, ServiceEntry, ServiceKey


class Block:
    """The body of one table, in an order nft accepts (objects before their users)."""

    def __init__(self) -> None:
        self.objects: list[str] = []
        self.chains: list[str] = []
        self.maps: list[str] = []
        self.count_maps: dict[str, list[tuple[str, str]]] = {}  # "tcp4" -> (tuple, counter)
        self.pickers: list[str] = []  # per-service chains, after the maps they use
        # group (ingress device, "" for NAT) -> (kind, family, proto) -> map elements
        self.dispatch: dict[str, dict[tuple[str, int, str], list[str]]] = {}
        self.dynamic: list[str] = []  # dynamic sets declared (kept by a replace)


def count_dest(block: Block, i: int, j: int, key: ServiceKey, dkey: DestKey) -> None:
    block.objects.append(f"counter s{i}d{j}i {{ }}")
    block.objects.append(f"counter s{i}d{j}o {{ }}")
    name = f"{key.protocol.lower()}{key.family}"
    tuple_ = f"{key.address} . {key.port} . {dkey.address} . {dkey.port or key.port}"
    block.count_maps.setdefault(name, []).append((tuple_, f"s{i}d{j}"))


def dispatch(block: Block, group: str, key: ServiceKey, i: int) -> None:
    """Enter service ``i`` in the verdict map that its packets are looked up in: one lookup
    per packet whatever the number of services. Maps by kind: ``d`` address and port,
    ``a`` address with any port (port 0), ``m`` fwmark; ``group``: the ingress device (DR)."""
    if key.fwmark:
        kind, element = ("m", key.family, ""), f"{key.fwmark:#x}"
    elif key.port:
        kind, element = ("d", key.family, key.protocol.lower()), f"{key.address} . {key.port}"
    else:
        kind, element = ("a", key.family, key.protocol.lower()), str(key.address)
    block.dispatch.setdefault(group, {}).setdefault(kind, []).append(f"{element} : goto s{i}")


def dispatch_parts(block: Block, group: str, suffix: str, pre: str) -> tuple[list[str], list[str]]:
    """(map declarations, base-chain rules) of one dispatch group, specific before any-port
    before fwmark."""
    maps, rules = [], []
    order = {"d": 0, "a": 1, "m": 2}
    for kind in sorted(block.dispatch.get(group, {}), key=lambda k: (order[k[0]], k[1], k[2])):
        letter, family, proto = kind
        ip, addr = ("ip", "ipv4_addr") if family == 4 else ("ip6", "ipv6_addr")
        name = f"{letter}{family}{proto}{suffix}"
        if letter == "d":
            typ, match = f"{addr} . inet_service", f"{ip} daddr . {proto} dport"
        elif letter == "a":
            typ, match = addr, f"meta l4proto {proto} {ip} daddr"
        else:
            typ, match = "mark", f"meta nfproto ipv{family} meta mark"
        elements = ", ".join(block.dispatch[group][kind])
        maps.append(f"map {name} {{ type {typ} : verdict; elements = {{ {elements} }}; }}")
        rules.append(f"{pre}{match} vmap @{name}")
    return maps, rules


def count_rules(block: Block) -> list[str]:
    rules = []
    for name in sorted(block.count_maps):
        proto, fam = name[:-1], name[-1]
        ip = "ip" if fam == "4" else "ip6"
        orig = f"ct original {ip} daddr . ct original proto-dst"
        for way, addr, port in (("original", "daddr", "dport"), ("reply", "saddr", "sport")):
            suffix = "i" if way == "original" else "o"
            rules.append(
                f"meta l4proto {proto} ct status dnat ct direction {way} counter name "
                f"{orig} . {ip} {addr} . {proto} {port} map @c{suffix}{name}"
            )
    return rules


def count_maps(block: Block) -> list[str]:
    out = []
    for name, elems in sorted(block.count_maps.items()):
        ipt = "ipv4_addr" if name.endswith("4") else "ipv6_addr"
        typ = f"{ipt} . inet_service . {ipt} . inet_service : counter"
        for suffix in ("i", "o"):
            text = ", ".join(f'{t} : "{c}{suffix}"' for t, c in elems)
            out.append(f"map c{suffix}{name} {{ type {typ}; elements = {{ {text} }}; }}")
    return out


def pins(i: int, entry: ServiceEntry, client: str, kind: str, timeout_s: int) -> list[str]:
    """Lookups that send a remembered flow or client to its real server's chain."""
    key = entry.service.key
    return [
        f"{client} @{set_name(kind, key, dkey, timeout_s)} goto s{i}d{j}"
        for j, dkey in enumerate(sorted(entry.destinations))
    ]


def dynamic(block: Block, kind: str, key: ServiceKey, dkey: DestKey, timeout_s: int) -> str:
    """Declare the dynamic set of ``kind`` for a real server of a service; its name."""
    name = set_name(kind, key, dkey, timeout_s)
    comment = set_comment(kind, key, dkey)
    block.objects.append(dynamic_set(name, key.family, timeout_s, kind == "f", comment))
    block.dynamic.append(name)
    return name


def draining_chains(
    block: Block,
    i: int,
    key: ServiceKey,
    flow: str,
    timeout: int,
    leaving: Mapping[DestKey, str],
) -> list[str]:
    """Chains and lookups that keep the established flows of removed real servers on them
    (such a flow can only continue where it is). No new flow goes there: for TCP, a SYN
    (a client port reused for a new connection) is not looked up."""
    ip = "ip" if key.family == 4 else "ip6"
    new_tcp = "tcp flags & (syn | ack) != syn " if key.protocol.upper() == "TCP" else ""
    lookups = []
    for k, dkey in enumerate(sorted(leaving)):
        name = dynamic(block, "f", key, dkey, timeout)
        forward = f'counter fwd {ip} to {dkey.address} device "{leaving[dkey]}"'
        block.chains.append(chain(f"s{i}x{k}", [f"update @{name} {{ {flow} }} {forward}"]))
        lookups.append(f"{new_tcp}{flow} @{name} goto s{i}x{k}")
    return lookups


def chain(name: str, rules: Iterable[str]) -> str:
    return f"chain {name} {{\n" + "".join(f"\t\t{r}\n" for r in rules) + "\t}"
