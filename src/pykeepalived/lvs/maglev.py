"""Weighted slot tables: how a stateless data plane spreads new flows over real servers.

Rules: pure, deterministic across processes and machines (no ``hash()``, no randomness), so
two directors with the same table compute the same slots. A *slot table* is a list of ``M``
entries, each the index of a destination (or ``-1`` when no destination has weight). A packet
picks a slot by a counter or a hash modulo ``M``; weights become slot counts.

Two fillings:

* ``maglev`` (Eisenbud et al., "Maglev: A Fast and Reliable Software Network Load Balancer",
  NSDI 2016, section 3.4): every destination walks its own permutation of the slots, derived
  from its name only, and claims free slots in turn until it has its quota. Removing one
  destination frees its slots and moves few others, so flows hashed to the remaining
  destinations mostly keep their destination. Quotas follow the weights (our extension of
  the paper's equal shares: destinations take turns while they are under their quota).
* ``smooth_round_robin``: the slots in the order a smooth weighted round robin visits the
  destinations (interleaved, never a run of one server); for a counter (``numgen inc``).
"""

import functools
import hashlib
from collections.abc import Sequence

# Primes: Maglev needs a prime size so that every skip walks all slots.
TABLE_SIZES = (251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521)
SLOTS_PER_DEST = 20


def table_size(dest_count: int) -> int:
    """The smallest size that gives each of ``dest_count`` destinations about 20 slots."""
    for size in TABLE_SIZES:
        if size >= SLOTS_PER_DEST * dest_count:
            return size
    return TABLE_SIZES[-1]


def quotas(weights: Sequence[int], size: int) -> list[int]:
    """Slot counts proportional to ``weights`` summing to ``size`` (largest remainder).

    Every positive weight gets at least one slot while ``size`` allows: a live server with a
    small weight still gets some new flows, as under IPVS.
    """
    if any(w < 0 for w in weights):
        raise ValueError("weights must not be negative")
    total = sum(weights)
    if total == 0:
        return [0] * len(weights)
    counts = [size * w // total for w in weights]
    order = sorted(range(len(weights)), key=lambda i: (-(size * weights[i] % total), i))
    for i in order[: size - sum(counts)]:
        counts[i] += 1
    for i in range(len(weights)):
        if weights[i] > 0 and counts[i] == 0:
            donor = max(range(len(counts)), key=lambda j: (counts[j], -j))
            if counts[donor] <= 1:
                break
            counts[donor] -= 1
            counts[i] = 1
    return counts


def _permutation(name: str, size: int) -> tuple[int, int]:
    digest = hashlib.blake2b(name.encode(), digest_size=16, person=b"pk-maglev").digest()
    offset = int.from_bytes(digest[:8], "big") % size
    skip = int.from_bytes(digest[8:], "big") % (size - 1) + 1
    return offset, skip


def maglev(names: Sequence[str], weights: Sequence[int], size: int) -> list[int]:
    """A Maglev slot table of ``size`` (a prime) for destinations ``names`` with ``weights``."""
    return list(_maglev(tuple(names), tuple(weights), size))


@functools.lru_cache(maxsize=4096)  # services often share a pool: same names, same table
def _maglev(names: tuple[str, ...], weights: tuple[int, ...], size: int) -> tuple[int, ...]:
    if len(names) != len(weights):
        raise ValueError("one weight per name")
    if len(set(names)) != len(names):
        raise ValueError("names must be unique")
    if size < 2 or any(size % d == 0 for d in range(2, int(size**0.5) + 1)):
        raise ValueError(f"size {size} is not a prime")
    want = quotas(weights, size)
    table = [-1] * size
    if not any(want):
        return tuple(table)
    perms = [_permutation(n, size) for n in names]
    nxt = [0] * len(names)
    have = [0] * len(names)
    filled = 0
    while filled < size:
        for i, (offset, skip) in enumerate(perms):
            if have[i] >= want[i]:
                continue
            slot = (offset + nxt[i] * skip) % size
            while table[slot] >= 0:
                nxt[i] += 1
                slot = (offset + nxt[i] * skip) % size
            table[slot] = i
            nxt[i] += 1
            have[i] += 1
            filled += 1
    return tuple(table)


def smooth_round_robin(weights: Sequence[int], size: int) -> list[int]:
    """``size`` slots visiting destinations in smooth weighted round-robin order."""
    return list(_smooth_round_robin(tuple(weights), size))


@functools.lru_cache(maxsize=4096)
def _smooth_round_robin(weights: tuple[int, ...], size: int) -> tuple[int, ...]:
    want = quotas(weights, size)
    if not any(want):
        return (-1,) * size
    current = [0] * len(want)
    table: list[int] = []
    for _ in range(size):
        for i, q in enumerate(want):
            current[i] += q
        pick = max(range(len(want)), key=lambda i: (current[i], -i))
        current[pick] -= size
        table.append(pick)
    return tuple(table)
