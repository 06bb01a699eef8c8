"""An LVS table as an nft script: our own tables, replaced in one transaction.

Rules: pure (text in, text out; the adapter in ``nftables.py`` runs ``nft``). We own exactly
two tables, ``inet <name>`` (NAT, and the bookkeeping of services without destinations) and
``netdev <name>`` (DR), and never name any other. Layout, service ``i`` in sorted key order,
destination ``j`` in sorted key order:

* counter ``s<i>`` (comment: the service) and ``s<i>d<j>`` (comment: the destination);
* counter ``s<i>d<j>w``: never counts; its comment is the weight (``w=3``). Unlike the
  counters that rules use, it can be deleted and added again in a transaction, so a weight
  changes in place (see ``weight_update``), and the whole table reads back from the named
  counters alone (one netlink dump);
* map ``s<i>m``: slot -> ``goto s<i>d<j>``, ``M`` slots (``maglev.table_size``);
* set ``generation`` (inet): one number, new at every write, so that a reader that wrote
  the table can check in one small read that nobody replaced it since;
* chain ``s<i>``: counts the service, looks up the remembered clients (persistence) and
  flows (DR), then picks a slot by ``numgen inc`` (NAT rr/wrr) or ``jhash``; it is reached
  by one verdict-map lookup per packet (maps ``d``/``a``/``m``: address and port, any-port
  address, fwmark), whatever the number of services;
* chain ``s<i>d<j>``: remembers, counts, then ``dnat`` (NAT) or ``fwd ... device`` (DR);
* NAT: the lookups are in ``nat_pre`` (prerouting, dstnat); conntrack keeps every later
  packet of the connection on its server and undoes the DNAT on replies, which must come
  back through the director: real servers route via the director (their default route); we
  add no SNAT/masquerade. ``count_fwd`` counts packets and bytes per destination both ways
  from conntrack's original tuple.
* DR: one ``ingress`` chain per ingress device matches ``meta pkttype host`` (a flooded
  frame is not ours to forward); the real server's chain sends the unchanged frame to its
  MAC with ``fwd ip to <rs> device <dev>``. A flow already seen goes where it went before:
  each real server's chain records ``saddr . sport`` in its dynamic set (``nft_sets``: named
  after service and real server, idle timeout as IPVS's); a new flow is placed by ``jhash``
  with an explicit seed (the same on every director) over the slots. A weight change or a
  drain to weight 0 (map refills, sets untouched) moves no remembered flow.
* A table replace given ``existing`` (what our tables hold) is one transaction that flushes
  our tables, deletes every object except the dynamic sets the new table declares again,
  and adds the new table: remembered flows and clients stay in the kernel, including those
  of the instant between reading and writing (a copy of the sets would lose them).
* A real server removed from a DR service (reload, health check) keeps its established
  flows, as IPVS keeps the connections of a deleted destination: the adapter passes it as
  ``draining`` while its flow set is not empty; it gets chain ``s<i>x<k>`` (forward, no
  slots, no named counter: it is no longer in the table that reads back) and its flows are
  looked up after the current servers' flows, before persistence and slots. A packet of
  such a flow sent to another real server would be answered with a reset. A TCP SYN is a
  new connection (a client port reused): it is placed again, never sent to a removed one.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from pykeepalived.kernel.nft_meta import (
    Scheduling,
    encode_dest,
    encode_service,
    method_of,
    scheduling,
)
from pykeepalived.kernel.nft_parts import (
    Block,
    chain,
    count_dest,
    count_maps,
    count_rules,
    dispatch,
    dispatch_parts,
    draining_chains,
    dynamic,
    pins,
)
from pykeepalived.kernel.nft_sets import (
    FLOW_TIMEOUT_S,
    MAX_TIMEOUT_S,
    Existing,
    clear_script,
    persistence,
)
from pykeepalived.lvs.maglev import maglev, smooth_round_robin, table_size
from pykeepalived.lvs.table import (
    Destination,
    DestKey,
    IPAddress,
    Method,
    ServiceEntry,
    ServiceKey,
    Table,
)

TABLE = "pykeepalived"
DEFAULT_SEED = 0x706B6C76  # "pklv": one constant, so every director hashes alike


@dataclass(frozen=True, slots=True, kw_only=True)
class NftEnv:
    """What the rules need from the machine: resolved by the adapter, given to ``render``."""

    table: str = TABLE
    seed: int = DEFAULT_SEED
    ingress_devices: tuple[str, ...] = ()  # DR: where client frames arrive ("" -> dest devices)
    routes: Mapping[IPAddress, str] = field(default_factory=dict)  # DR: real server -> device


@dataclass(frozen=True, slots=True, kw_only=True)
class Rendered:
    script: str
    programmed: dict[ServiceKey, ServiceEntry]  # what the script installs
    refused: dict[ServiceKey, str]  # services it cannot install, and why
    notes: tuple[str, ...]  # differences from IPVS, one line per kind


Draining = Mapping[ServiceKey, Mapping[DestKey, str]]  # removed DR real server -> device


def render(
    table: Table,
    env: NftEnv,
    generation: int = 0,
    *,
    existing: Existing | None = None,
    draining: Draining | None = None,
) -> Rendered:
    """The whole script; ``generation`` goes into set ``generation`` so that a reader can
    tell cheaply whether the table is still the one it wrote. ``existing``: what our tables
    hold now; the script then keeps their dynamic sets that the new table declares (None: a
    fresh table, both of ours deleted first). ``draining``: real servers removed from a DR
    service of ``table`` whose established flows still go to them (see the module text)."""
    programmed: dict[ServiceKey, ServiceEntry] = {}
    refused: dict[ServiceKey, str] = {}
    for key in sorted(table):
        entry = table[key]
        try:
            _check(entry, env)
        except ValueError as e:
            refused[key] = str(e)
            continue
        programmed[key] = entry
    inet, netdev = Block(), Block()
    for i, key in enumerate(programmed):
        entry = programmed[key]
        if method_of(entry) is Method.DR:
            leaving = (draining or {}).get(key, {})
            _dr_service(netdev, i, entry, env, leaving)
        else:
            _nat_service(inet, i, entry, env)
    inet.maps.append(f"set generation {{ type mark; elements = {{ {generation} }}; }}")
    # Nothing to program (a stop, or every service refused): no table of ours at all.
    script = _script(env, inet, netdev, existing) if programmed else delete_script(env.table)
    return Rendered(script=script, programmed=programmed, refused=refused, notes=notes(programmed))


def notes(table: Table) -> tuple[str, ...]:
    """What the nftables backend does differently from IPVS for ``table`` (programmable
    services only), one line per kind of difference, with a count and an example."""
    found: dict[str, list[ServiceKey]] = {}
    for key in sorted(table):
        for note in _notes(table[key]):
            found.setdefault(note, []).append(key)
    return tuple(
        f"{note} [{len(keys)} service{'s' * (len(keys) > 1)}, e.g. {keys[0]}]"
        for note, keys in found.items()
    )


def delete_script(name: str = TABLE) -> str:
    """Remove our tables if present (``table X`` first makes ``delete`` safe when absent)."""
    return "".join(f"table {fam} {name}\ndelete table {fam} {name}\n" for fam in ("inet", "netdev"))


def weight_update(old: Table, new: Table, env: NftEnv, generation: int = 0) -> str | None:
    """Element updates for a change of weights only (same services, same destinations, same
    attributes): the slot maps of the changed services are flushed and refilled and their
    weight counters replaced, in one transaction. ``None`` when anything else differs: then a
    full ``render``."""
    if list(sorted(old)) != list(sorted(new)):
        return None
    lines: list[str] = []
    for i, key in enumerate(sorted(new)):
        was, now = old[key], new[key]
        if was.service != now.service or set(was.destinations) != set(now.destinations):
            return None
        if was.destinations == now.destinations:
            continue
        for dkey, dest in now.destinations.items():
            if _without_weight(dest) != _without_weight(was.destinations[dkey]):
                return None
        try:
            fam = "netdev" if method_of(now) is Method.DR else "inet"
        except ValueError:
            return None
        lines.append(f"flush map {fam} {env.table} s{i}m")
        if goto := _slots(i, now):
            lines.append(f"add element {fam} {env.table} s{i}m {{ {goto} }}")
        for j, dkey in enumerate(sorted(now.destinations)):
            weight = now.destinations[dkey].weight
            if weight != was.destinations[dkey].weight:
                lines.append(f"delete counter {fam} {env.table} s{i}d{j}w")
                lines.append(f'add counter {fam} {env.table} s{i}d{j}w {{ comment "w={weight}"; }}')
    if lines:
        lines.append(f"flush set inet {env.table} generation")
        lines.append(f"add element inet {env.table} generation {{ {generation} }}")
    return "".join(line + "\n" for line in lines)


def _without_weight(dest: Destination) -> Destination:
    return replace(dest, weight=0)


def _check(entry: ServiceEntry, env: NftEnv) -> None:
    method = method_of(entry)
    encode_service(entry.service)
    for dest in entry.destinations.values():
        encode_dest(dest)
    key = entry.service.key
    if method is Method.DR:
        if key.fwmark:
            raise ValueError("DR by fwmark: the mark is set after netdev ingress; not done here")
        for dkey in entry.destinations:
            if dkey.address.version != key.family:
                raise ValueError(f"DR to {dkey}: not the service's address family")
            if dkey.address not in env.routes:
                raise ValueError(f"DR to {dkey}: no route to the real server")
        if not _ingress(entry, env):
            raise ValueError("DR: no ingress device")


def _notes(entry: ServiceEntry) -> list[str]:
    service = entry.service
    method = method_of(entry)
    out = []
    how = scheduling(service, method)
    if how.note:
        out.append(f"{method.name}: {how.note}")
    if service.persistence_timeout:
        out.append(
            "persistence_timeout is a source-affinity set per real server, refreshed by "
            + ("every packet" if method is Method.DR else "every new connection")
            + " (an IPVS template also lives as long as its connections)"
        )
    if (service.persistence_timeout or 0) > MAX_TIMEOUT_S:
        out.append(f"persistence_timeout is capped at {MAX_TIMEOUT_S} s (nft's set timeouts)")
    if service.persistence_engine or service.one_packet:
        out.append("persistence_engine and one-packet scheduling (ops) are not done here")
    if method is Method.DR and any(d.port != service.key.port for d in entry.destinations):
        out.append(
            "DR keeps the packet's port: a real server port other than the service's is unused"
        )
    if any(d.upper_threshold or d.lower_threshold for d in entry.destinations.values()):
        out.append("uthreshold/lthreshold need connection counts: ignored by the nftables backend")
    return out


def _slot_table(entry: ServiceEntry, how: Scheduling) -> list[int]:
    dests = [entry.destinations[k] for k in sorted(entry.destinations)]
    weights = [d.weight for d in dests]
    size = table_size(len(dests))
    if how.first_only and any(weights):
        top = max(weights)
        weights = [w if w == top and i == weights.index(top) else 0 for i, w in enumerate(weights)]
    if how.counter:
        return smooth_round_robin(weights, size)
    return maglev([str(d.key) for d in dests], weights, size)


def _slots(i: int, entry: ServiceEntry) -> str:
    """The elements of service ``i``'s slot map."""
    how = scheduling(entry.service, method_of(entry))
    slots = _slot_table(entry, how)
    return ", ".join(f"{n} : goto s{i}d{j}" for n, j in enumerate(slots) if j >= 0)


def _service_objects(block: Block, i: int, entry: ServiceEntry) -> None:
    block.objects.append(f'counter s{i} {{ comment "{encode_service(entry.service)}"; }}')
    for j, dkey in enumerate(sorted(entry.destinations)):
        comment = encode_dest(entry.destinations[dkey])
        block.objects.append(f'counter s{i}d{j} {{ comment "{comment}"; }}')
        weight = entry.destinations[dkey].weight
        block.objects.append(f'counter s{i}d{j}w {{ comment "w={weight}"; }}')
    size = table_size(len(entry.destinations))
    goto = _elements(_slots(i, entry))
    block.maps.append(f"map s{i}m {{ typeof numgen inc mod {size} : verdict; {goto}}}")


def _elements(text: str) -> str:
    return f"elements = {{ {text} }}; " if text else ""


def _pick(i: int, entry: ServiceEntry, how: Scheduling, env: NftEnv) -> str:
    size = table_size(len(entry.destinations))
    if how.counter:
        return f"numgen inc mod {size} vmap @s{i}m"
    key = entry.service.key
    ip = "ip" if key.family == 4 else "ip6"
    parts = {"saddr": f"{ip} saddr", "daddr": f"{ip} daddr"}
    if not key.fwmark:
        parts["sport"] = f"{key.protocol.lower()} sport"
    on = " . ".join(parts[h] for h in how.hash_on if h in parts)
    return f"jhash {on} mod {size} seed {env.seed:#x} vmap @s{i}m"


def _nat_service(block: Block, i: int, entry: ServiceEntry, env: NftEnv) -> None:
    _service_objects(block, i, entry)
    key = entry.service.key
    how = scheduling(entry.service, Method.NAT)
    persist = persistence(entry)
    rules = [f'counter name "s{i}"']
    if entry.destinations:
        rules += pins(i, entry, persist[0], "p", persist[1]) if persist else []
        rules.append(_pick(i, entry, how, env))
    block.pickers.append(chain(f"s{i}", rules))
    dispatch(block, "", key, i)
    ip = "ip" if key.family == 4 else "ip6"
    proto = key.protocol.lower() if not key.fwmark else "{ tcp, udp, sctp }"
    for j, dkey in enumerate(sorted(entry.destinations)):
        host = f"[{dkey.address}]" if dkey.address.version == 6 else str(dkey.address)
        to = f"{host}:{dkey.port}" if dkey.port else str(dkey.address)
        remember = ""
        if persist:
            name = dynamic(block, "p", key, dkey, persist[1])
            remember = f"update @{name} {{ {persist[0]} }} "
        rule = f'meta l4proto {proto} {remember}counter name "s{i}d{j}" dnat {ip} to {to}'
        block.chains.append(chain(f"s{i}d{j}", [rule]))
        if not key.fwmark and key.port:
            count_dest(block, i, j, key, dkey)


def _dr_service(
    block: Block, i: int, entry: ServiceEntry, env: NftEnv, leaving: Mapping[DestKey, str]
) -> None:
    _service_objects(block, i, entry)
    key = entry.service.key
    ip = "ip" if key.family == 4 else "ip6"
    proto = key.protocol.lower()
    flow = f"{ip} saddr . {proto} sport"
    timeout = FLOW_TIMEOUT_S.get(proto, 900)
    persist = persistence(entry)
    # Known flows first (an established flow continues where it is, whatever persistence
    # says), then flows of removed real servers, then clients (persistence), then the slots.
    rules = [f'counter name "s{i}"']
    rules += pins(i, entry, flow, "f", timeout)
    rules += draining_chains(block, i, key, flow, timeout, leaving)
    if entry.destinations:
        how = scheduling(entry.service, Method.DR)
        rules += pins(i, entry, persist[0], "p", persist[1]) if persist else []
        rules.append(_pick(i, entry, how, env))
    block.pickers.append(chain(f"s{i}", rules))
    for dev in _ingress(entry, env):
        dispatch(block, dev, key, i)
    for j, dkey in enumerate(sorted(entry.destinations)):
        remember = f"update @{dynamic(block, 'f', key, dkey, timeout)} {{ {flow} }}"
        if persist:
            name = dynamic(block, "p", key, dkey, persist[1])
            remember += f" update @{name} {{ {persist[0]} }}"
        dev = env.routes[dkey.address]
        forward = f'counter name "s{i}d{j}" fwd {ip} to {dkey.address} device "{dev}"'
        block.chains.append(chain(f"s{i}d{j}", [f"{remember} {forward}"]))


def _ingress(entry: ServiceEntry, env: NftEnv) -> tuple[str, ...]:
    if env.ingress_devices:
        return env.ingress_devices
    return tuple(
        sorted({env.routes[k.address] for k in entry.destinations if k.address in env.routes})
    )


def _script(env: NftEnv, inet: Block, netdev: Block, existing: Existing | None) -> str:
    out = [delete_script(env.table) if existing is None else ""]
    maps, rules = dispatch_parts(inet, "", "", "")
    body = inet.objects + inet.chains + inet.maps + inet.pickers + maps + count_maps(inet)
    body.append(_base("nat_pre", "type nat hook prerouting priority dstnat", rules))
    if inet.count_maps:
        body.append(
            _base("count_fwd", "type filter hook forward priority filter", count_rules(inet))
        )
    out.append(_table("inet", env.table, body))
    if netdev.dispatch:
        body = netdev.objects + netdev.chains + netdev.maps + netdev.pickers
        bases = []
        for n, dev in enumerate(sorted(netdev.dispatch)):
            # A frame flooded to us (not addressed to our MAC) is not ours to forward.
            maps, rules = dispatch_parts(netdev, dev, f"i{n}", "meta pkttype host ")
            hook = f'type filter hook ingress device "{dev}" priority filter'
            body += maps
            bases.append(_base(f"ingress{n}", hook, rules))
        out.append(_table("netdev", env.table, body + bases))
    if existing is not None:
        kept = {"inet": set(inet.dynamic)}
        if netdev.dispatch:
            kept["netdev"] = set(netdev.dynamic)
        out[0] = clear_script(env.table, existing, kept)
    return "".join(out)


def _base(name: str, hook: str, rules: Iterable[str]) -> str:
    lines = "".join(f"\t\t{r}\n" for r in rules)
    return f"chain {name} {{\n\t\t{hook}; policy accept;\n{lines}\t}}"


def _table(family: str, name: str, body: list[str]) -> str:
    inner = "".join(f"\t{item}\n" for item in body)
    return f'table {family} {name} {{\n\tcomment "pykeepalived {family}";\n{inner}}}\n'
