"""The sets that the packet path fills: DR flows and persistence clients.

Rules: pure. Each real server has, in DR, a set of the flows (``saddr . sport``) it was sent
and, with ``persistence_timeout``, a set of the clients (``saddr``, masked) it serves; the
service's chain looks them up before the slots. ``dynamic_sets`` names them for a table as
``nft_rules`` lays it out, and ``element_text`` turns a kernel key back into nft syntax, so
that the adapter can carry their elements over a table replace.
"""

from collections.abc import Iterable, Mapping, Sequence
from ipaddress import ip_address, ip_network

from pykeepalived.kernel.nft_meta import method_of
from pykeepalived.lvs.table import DestKey, Method, ServiceEntry, ServiceKey, Table

# DR flow pinning: idle time after which a flow may move (IPVS: tcp 900 s, udp 300 s).
FLOW_TIMEOUT_S = {"tcp": 900, "udp": 300, "sctp": 900}
FLOW_SET_SIZE = 65536  # elements remembered per set; beyond, new flows are only hashed
MAX_TIMEOUT_S = 10_000_000  # nft refuses set timeouts somewhere above 5e7 s; cap at 115 days
# (service, real server, "f"/"p") -> [(element key text, seconds left)]
Carry = Mapping[tuple[ServiceKey, DestKey, str], Sequence[tuple[str, int]]]


def persistence(entry: ServiceEntry) -> tuple[str, int] | None:
    """``persistence_timeout``: (the client key, e.g. ``ip saddr & 255.255.255.0``, and the
    timeout) of a source-affinity set, or None."""
    service = entry.service
    if not service.persistence_timeout or service.persistence_timeout <= 0:
        return None
    family = service.key.family
    ip = "ip" if family == 4 else "ip6"
    mask_text = (service.persistence_netmask or "").lstrip("/")
    client = f"{ip} saddr"
    if mask_text:
        net = ip_network(f"{'0.0.0.0' if family == 4 else '::'}/{mask_text}")
        if net.prefixlen < net.max_prefixlen:
            client += f" & {net.netmask}"
    return client, min(service.persistence_timeout, MAX_TIMEOUT_S)


def dynamic_set(
    name: str, family: int, timeout_s: int, kept: Iterable[tuple[str, int]], with_port: bool
) -> str:
    """A set that the packet path fills; ``kept``: elements carried over a replace
    (key text, seconds left), never longer than the new timeout."""
    addr = "ipv4_addr" if family == 4 else "ipv6_addr"
    key = f"{addr} . inet_service" if with_port else addr
    text = ", ".join(f"{k} expires {min(left, timeout_s)}s" for k, left in kept)
    elements = f"elements = {{ {text} }}; " if text else ""
    return (
        f"set {name} {{ type {key}; flags dynamic,timeout; timeout {timeout_s}s; "
        f"size {FLOW_SET_SIZE}; {elements}}}"
    )


def dynamic_sets(table: Table) -> dict[tuple[str, str], tuple[ServiceKey, DestKey, str]]:
    """The sets the packet path fills in what ``render`` made of ``table`` (a programmed
    table): ``(family, name) -> (service, real server, "f" flows or "p" persistence)``."""
    out = {}
    for i, key in enumerate(sorted(table)):
        entry = table[key]
        dr = method_of(entry) is Method.DR
        kinds = ("f" if dr else "") + ("p" if persistence(entry) else "")
        for j, dkey in enumerate(sorted(entry.destinations)):
            for kind in kinds:
                out["netdev" if dr else "inet", f"s{i}d{j}{kind}"] = (key, dkey, kind)
    return out


def element_text(family: int, kind: str, raw: bytes) -> str | None:
    """A flow (``addr . port``, "f") or client (``addr``, "p") key as nft writes it; the
    kernel pads each part of a concatenation to 4 bytes."""
    size = 4 if family == 4 else 16
    if len(raw) < size:
        return None
    text = str(ip_address(raw[:size]))
    if kind == "f":
        if len(raw) < size + 2:
            return None
        text += f" . {int.from_bytes(raw[size : size + 2], 'big')}"
    return text
