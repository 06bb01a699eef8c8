"""The sets that the packet path fills: DR flows and persistence clients.

Rules: pure. Each real server has, in DR, a set of the flows (``saddr . sport``) it was sent
and, with ``persistence_timeout``, a set of the clients (``saddr``, masked) it serves; the
service's chain looks them up before the slots. Their contents exist only in the kernel, so
a table replace must not re-create them: each set is named after what it remembers (service,
real server, kind, timeout; ``set_name``) and says so in its comment (``set_comment``), so
that a replace (see ``nft_rules``) deletes every other object of our tables and keeps these
sets, with their elements, in the same transaction. ``Existing`` is what a replace starts
from: the objects our tables hold, read back from ``nft -j`` listings (``existing``).
"""

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from ipaddress import ip_address, ip_network
from typing import Any

from pykeepalived.kernel.nft_meta import key_of, key_text
from pykeepalived.lvs.table import DestKey, ServiceEntry, ServiceKey

# DR flow pinning: idle time after which a flow may move (IPVS: tcp 900 s, udp 300 s).
FLOW_TIMEOUT_S = {"tcp": 900, "udp": 300, "sctp": 900}
FLOW_SET_SIZE = 65536  # elements remembered per set; beyond, new flows are only hashed
MAX_TIMEOUT_S = 10_000_000  # nft refuses set timeouts somewhere above 5e7 s; cap at 115 days
# Object kinds of ``nft -j`` in the order a replace deletes them: maps hold ``goto`` chain
# and counter references, chains (flushed first) hold set references.
KINDS = ("map", "chain", "counter", "set")


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


def set_comment(kind: str, key: ServiceKey, dkey: DestKey) -> str:
    """What a dynamic set remembers, readable back with ``set_identity``."""
    return f"x={kind} k={key_text(key)} a={dkey.address} p={dkey.port}"


def set_identity(comment: str) -> tuple[str, ServiceKey, DestKey] | None:
    """(kind "f"/"p", service, real server) of a set of ours; None for any other comment."""
    try:
        fields = dict(word.split("=", 1) for word in comment.split())
        dkey = DestKey(address=ip_address(fields["a"]), port=int(fields["p"]))
        return fields["x"], key_of(fields["k"]), dkey
    except (KeyError, ValueError, IndexError):
        return None


def set_name(kind: str, key: ServiceKey, dkey: DestKey, timeout_s: int) -> str:
    """A name that stays the same across reloads for as long as the set means the same thing
    (not an index, which shifts when a real server or service is added or removed); the
    timeout is part of it because nft cannot change a set's timeout in place."""
    text = f"{kind}|{key_text(key)}|{dkey.address}|{dkey.port}|{timeout_s}"
    return kind + hashlib.blake2s(text.encode(), digest_size=8).hexdigest()


def dynamic_set(name: str, family: int, timeout_s: int, with_port: bool, comment: str) -> str:
    """A set that the packet path fills (declared without elements: when it exists already,
    a replace keeps it and its elements)."""
    addr = "ipv4_addr" if family == 4 else "ipv6_addr"
    key = f"{addr} . inet_service" if with_port else addr
    return (
        f'set {name} {{ comment "{comment}"; type {key}; flags dynamic,timeout; '
        f"timeout {timeout_s}s; size {FLOW_SET_SIZE}; }}"
    )


@dataclass(frozen=True, slots=True)
class Existing:
    """What our tables hold now: per family (``inet``/``netdev``) whose table exists, the
    names of its objects by kind, and the comments of its sets."""

    names: Mapping[str, Mapping[str, tuple[str, ...]]] = field(default_factory=dict)
    comments: Mapping[tuple[str, str], str] = field(default_factory=dict)

    def remembered(self) -> Iterable[tuple[str, str, tuple[str, ServiceKey, DestKey]]]:
        """(family, set name, identity) of every dynamic set of ours."""
        for (family, name), comment in sorted(self.comments.items()):
            if (identity := set_identity(comment)) is not None:
                yield family, name, identity


def existing(items: Iterable[Mapping[str, Any]], table: str) -> Existing:
    """``Existing`` from ``nft -j`` items (sets, maps, chains, counters; any table: only
    ``table``'s objects in families ``inet`` and ``netdev`` count)."""
    names: dict[str, dict[str, list[str]]] = {}
    comments: dict[tuple[str, str], str] = {}
    for item in items:
        for kind, body in item.items():
            if kind == "table" and body.get("name") == table:
                names.setdefault(body["family"], {})
            if kind not in KINDS or body.get("table") != table:
                continue
            if body.get("family") not in ("inet", "netdev"):
                continue
            names.setdefault(body["family"], {}).setdefault(kind, []).append(body["name"])
            if kind == "set" and "comment" in body:
                comments[body["family"], body["name"]] = str(body["comment"])
    return Existing(
        names={f: {k: tuple(v) for k, v in kinds.items()} for f, kinds in names.items()},
        comments=comments,
    )


def clear_script(name: str, existing: Existing, kept: Mapping[str, set[str]]) -> str:
    """Empty our existing tables but for the dynamic sets in ``kept`` (family -> names of
    the sets the new table declares again): flush every rule, then delete maps (they
    reference chains and counters), chains, counters and the other sets. A table with no
    set to keep (NAT without persistence) is deleted whole, which is quicker."""
    lines = []
    for family, kinds in sorted(existing.names.items()):
        if not kept.get(family, set()) & set(kinds.get("set", ())):
            lines.append(f"delete table {family} {name}")
            continue
        lines.append(f"flush table {family} {name}")
        for kind in KINDS:
            for obj in kinds.get(kind, ()):
                if not (kind == "set" and obj in kept.get(family, set())):
                    lines.append(f"delete {kind} {family} {name} {obj}")
    return "".join(line + "\n" for line in lines)
