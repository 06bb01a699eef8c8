"""Our nft tables read back: ``nft -j list table`` output -> the LVS table and its counters.

Rules: pure (JSON in, values out). Only objects named as ``nft_rules`` names them are read
(counters ``s<i>``, ``s<i>d<j>``, ``s<i>d<j>w``, ``s<i>d<j>i``/``o``): the whole table
reads back from named counters, whether they come from ``nft -j`` or from the netlink dump.
Anything else in our tables is ignored. A destination without its weight counter reads as
weight 0 (it gets no slots either way).
"""

import re
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from pykeepalived.kernel.dataplane import ServiceCounters
from pykeepalived.kernel.nft_meta import decode_dest, decode_service
from pykeepalived.lvs.table import Counters, DestKey, ServiceEntry, ServiceKey

_SERVICE = re.compile(r"s(\d+)")
_DEST = re.compile(r"s(\d+)d(\d+)")
_WEIGHT = re.compile(r"s(\d+)d(\d+)w")


def objects(documents: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The ``{"counter": {...}}``, ``{"map": {...}}``... items of ``nft -j`` documents."""
    return [item for doc in documents for item in doc.get("nftables", [])]


def _named(items: Iterable[Mapping[str, Any]], kind: str) -> dict[str, Mapping[str, Any]]:
    return {item[kind]["name"]: item[kind] for item in items if kind in item}


def _weights(counters: Mapping[str, Mapping[str, Any]]) -> dict[tuple[int, int], int]:
    out = {}
    for name, body in counters.items():
        m = _WEIGHT.fullmatch(name)
        if m and str(body.get("comment", "")).startswith("w="):
            out[int(m[1]), int(m[2])] = int(body["comment"][2:])
    return out


def generation_of(items: Iterable[Mapping[str, Any]]) -> int | None:
    """The number in set ``generation`` (see ``nft_rules``), None if absent."""
    for item in items:
        body = item.get("set", {})
        if body.get("name") == "generation" and body.get("family") == "inet":
            elements = body.get("elem", [])
            if len(elements) == 1 and isinstance(elements[0], int):
                return elements[0]
    return None


def parse_table(items: Iterable[Mapping[str, Any]]) -> dict[ServiceKey, ServiceEntry]:
    items = list(items)
    counters = _named(items, "counter")
    weights = _weights(counters)
    services = {}
    dests: dict[int, dict[DestKey, Any]] = {}
    for name, body in counters.items():
        if "comment" not in body:
            continue
        if m := _SERVICE.fullmatch(name):
            services[int(m[1])] = decode_service(body["comment"])
        elif m := _DEST.fullmatch(name):
            i, j = int(m[1]), int(m[2])
            dest = decode_dest(body["comment"], weights.get((i, j), 0))
            dests.setdefault(i, {})[dest.key] = dest
    return {
        s.key: ServiceEntry(service=s, destinations=dict(sorted(dests.get(i, {}).items())))
        for i, s in sorted(services.items(), key=lambda kv: kv[1].key)
    }


def parse_counters(items: Iterable[Mapping[str, Any]]) -> dict[ServiceKey, ServiceCounters]:
    """Per service and destination, from the counters alone (``nft list counters``).

    DR: packets and bytes in (the ingress rule and the forwarding chain); the answers do not
    pass the director. NAT: the nat chain sees only the first packet of a connection, so its
    counts are connections; the forward chain counts packets and bytes both ways.
    """
    counters = _named(items, "counter")
    index = {
        int(m[1]): decode_service(body["comment"]).key
        for name, body in counters.items()
        if (m := _SERVICE.fullmatch(name)) and "comment" in body
    }
    dest_names: dict[int, list[tuple[DestKey, str]]] = {}
    for name, body in counters.items():
        if (m := _DEST.fullmatch(name)) and "comment" in body:
            dkey = decode_dest(body["comment"], 0).key
            dest_names.setdefault(int(m[1]), []).append((dkey, name))
    out = {}
    for i, key in index.items():
        nat = counters[f"s{i}"].get("family") != "netdev"
        per_dest = {
            dkey: _dest_counters(counters, name, nat) for dkey, name in dest_names.get(i, [])
        }
        total = _sum(per_dest.values())
        svc = counters[f"s{i}"]
        if nat:
            total = replace(total, connections=int(svc.get("packets", 0)))
        else:
            total = replace(total, packets_in=svc.get("packets", 0), bytes_in=svc.get("bytes", 0))
        out[key] = ServiceCounters(total=total, destinations=per_dest)
    return out


def _dest_counters(counters: Mapping[str, Mapping[str, Any]], name: str, nat: bool) -> Counters:
    first = counters.get(name, {})
    if not nat:
        return Counters(
            packets_in=int(first.get("packets", 0)), bytes_in=int(first.get("bytes", 0))
        )
    fin, fout = counters.get(name + "i", {}), counters.get(name + "o", {})
    return Counters(
        connections=int(first.get("packets", 0)),
        packets_in=int(fin.get("packets", 0)),
        bytes_in=int(fin.get("bytes", 0)),
        packets_out=int(fout.get("packets", 0)),
        bytes_out=int(fout.get("bytes", 0)),
    )


def _sum(items: Iterable[Counters]) -> Counters:
    total = Counters()
    for c in items:
        total = Counters(
            connections=total.connections + c.connections,
            packets_in=total.packets_in + c.packets_in,
            packets_out=total.packets_out + c.packets_out,
            bytes_in=total.bytes_in + c.bytes_in,
            bytes_out=total.bytes_out + c.bytes_out,
        )
    return total
