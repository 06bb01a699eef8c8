"""What the nftables backend does with an LVS service, and how it remembers it in the ruleset.

Rules: pure (no nft, no I/O). Two jobs:

* ``scheduling``: nftables keeps no per-connection counts in user space, so each IPVS
  scheduler maps to a stateless one: a counter over interleaved weighted slots (``numgen``)
  or a hash over a Maglev slot table (``jhash``). Where that differs from IPVS, the returned
  note names both, so nothing is silently different.
* comments: the ruleset is the only state (the daemon may restart), so every service and
  destination carries its ``lvs.table`` attributes in the comment of its named counter,
  short ``key=value`` words that ``decode_*`` turn back into the same values. nft limits a
  comment to 128 bytes; ``encode_*`` refuse longer ones rather than truncate.
"""

from dataclasses import dataclass
from ipaddress import ip_address

from pykeepalived.lvs.table import (
    SCHED_FLAGS,
    Destination,
    DestKey,
    Method,
    Service,
    ServiceEntry,
    ServiceKey,
)

COMMENT_MAX = 128
_FLAGS = tuple(sorted(SCHED_FLAGS))

# Schedulers that need per-connection state, and what we do instead (IPVS name -> ours).
_MAPPED = {
    "lc": "wrr",
    "wlc": "wrr",
    "sed": "wrr",
    "nq": "wrr",
    "twos": "wrr",
    "lblc": "dh",
    "lblcr": "dh",
    "ovf": "fo",
}
_WHY = {
    "lc": "least-connection needs connection counts",
    "wlc": "weighted least-connection needs connection counts",
    "sed": "shortest expected delay needs connection counts",
    "nq": "never-queue needs connection counts",
    "twos": "weighted random of two needs connection counts",
    "lblc": "locality-based least-connection needs connection counts",
    "lblcr": "locality-based least-connection with replication needs connection counts",
    "ovf": "overflow needs connection counts; all new flows go to the highest weight",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Scheduling:
    """How new flows of one service pick a slot.

    ``counter``: ``numgen inc`` over interleaved slots (NAT only: conntrack keeps each
    connection on its server). Otherwise ``jhash`` of ``hash_on`` (``saddr``, ``sport``,
    ``daddr``) over a Maglev table. ``first_only``: every slot to the highest weight (fo).
    """

    done_as: str
    counter: bool
    hash_on: tuple[str, ...] = ()
    first_only: bool = False
    note: str | None = None


def scheduling(service: Service, method: Method) -> Scheduling:
    requested = service.scheduler
    done_as = _MAPPED.get(requested, requested)
    note = None
    if done_as != requested:
        note = f"{requested} is done as {done_as} ({_WHY[requested]}, kept nowhere here)"
    flags = service.flags
    if done_as in ("rr", "wrr"):
        if method is Method.NAT:
            return Scheduling(done_as=done_as, counter=True, note=note)
        dr = (
            f"{done_as} is a hash of source address and port over weighted slots (a "
            "counter would split a connection whose flow the director does not remember: "
            "after a table replace, a failover, or a full flow set)"
        )
        return Scheduling(
            done_as=done_as,
            counter=False,
            hash_on=("saddr", "sport"),
            note=f"{note}; in DR, {dr}" if note else dr,
        )
    if done_as in ("sh", "mh"):
        port = ("sh-port" if done_as == "sh" else "mh-port") in flags
        return Scheduling(
            done_as=done_as,
            counter=False,
            hash_on=("saddr", "sport") if port else ("saddr",),
            note=note,
        )
    if done_as == "dh":
        return Scheduling(done_as="dh", counter=False, hash_on=("daddr",), note=note)
    # fo: the highest weight takes everything; any key works, the table has one server.
    return Scheduling(done_as="fo", counter=False, hash_on=("saddr",), first_only=True, note=note)


def method_of(entry: ServiceEntry) -> Method:
    """A service's forwarding method; raises ValueError when its destinations disagree."""
    methods = {d.method for d in entry.destinations.values()}
    if len(methods) > 1:
        raise ValueError(
            "destinations mix forwarding methods " + str(sorted(m.name for m in methods))
        )
    method = methods.pop() if methods else Method.NAT
    if method is Method.TUN:
        raise ValueError("tunnel (TUN) forwarding is not done by the nftables backend")
    return method


def key_text(key: ServiceKey) -> str:
    """A service key as one word (``TCP/4/192.168.88.100/80``, ``FWM/4/1``); ``key_of``
    reads it back."""
    if key.fwmark:
        return f"FWM/{key.family}/{key.fwmark}"
    return f"{key.protocol}/{key.family}/{key.address}/{key.port}"


def key_of(text: str) -> ServiceKey:
    kind, family, *rest = text.split("/")
    if kind == "FWM":
        return ServiceKey(family=int(family), fwmark=int(rest[0]))
    return ServiceKey(
        family=int(family), protocol=kind, address=ip_address(rest[0]), port=int(rest[1])
    )


def encode_service(service: Service) -> str:
    words = [f"k={key_text(service.key)}", f"s={service.scheduler}"]
    if service.flags:
        mask = sum(1 << i for i, f in enumerate(_FLAGS) if f in service.flags)
        words.append(f"f={mask:x}")
    if service.persistence_timeout is not None:
        words.append(f"pt={service.persistence_timeout}")
    if service.persistence_netmask is not None:
        words.append(f"pm={service.persistence_netmask}")
    if service.one_packet:
        words.append("op=1")
    if service.persistence_engine is not None:
        words.append(f"pe={service.persistence_engine}")
    return _checked(" ".join(words))


def decode_service(comment: str) -> Service:
    fields = _fields(comment)
    key = key_of(fields["k"])
    mask = int(fields.get("f", "0"), 16)
    return Service(
        key=key,
        scheduler=fields["s"],
        flags=frozenset(f for i, f in enumerate(_FLAGS) if mask >> i & 1),
        persistence_timeout=int(fields["pt"]) if "pt" in fields else None,
        persistence_netmask=fields.get("pm"),
        one_packet=fields.get("op") == "1",
        persistence_engine=fields.get("pe"),
    )


def encode_dest(dest: Destination) -> str:
    """Everything but the weight, which lives in a map so that it can change in place."""
    words = [f"a={dest.key.address}", f"p={dest.key.port}", f"m={dest.method.name}"]
    optional = {
        "ut": dest.upper_threshold or None,
        "lt": dest.lower_threshold or None,
        "tt": dest.tunnel_type,
        "tp": dest.tunnel_port,
        "tc": dest.tunnel_csum,
    }
    words += [f"{k}={v}" for k, v in optional.items() if v is not None]
    return _checked(" ".join(words))


def decode_dest(comment: str, weight: int) -> Destination:
    f = _fields(comment)
    return Destination(
        key=DestKey(address=ip_address(f["a"]), port=int(f["p"])),
        weight=weight,
        method=Method[f["m"]],
        upper_threshold=int(f.get("ut", "0")),
        lower_threshold=int(f.get("lt", "0")),
        tunnel_type=f.get("tt"),
        tunnel_port=int(f["tp"]) if "tp" in f else None,
        tunnel_csum=f.get("tc"),
    )


def _checked(comment: str) -> str:
    if len(comment.encode()) > COMMENT_MAX:
        raise ValueError(f"too long for an nft comment ({len(comment)} > {COMMENT_MAX})")
    if '"' in comment or "\\" in comment:
        raise ValueError("quotes or backslashes cannot go into an nft comment")
    if any("=" not in word for word in comment.split()):
        raise ValueError(f"a value with a space cannot be read back: {comment!r}")
    return comment


def _fields(comment: str) -> dict[str, str]:
    return dict(word.split("=", 1) for word in comment.split())
