"""Model of ``bgp_speaker``: active-active directors announcing their VIPs over BGP.

Rules: a pykeepalived extension (keepalived has no BGP; its users bolt ExaBGP or BIRD on with
scripts). Frozen value objects, field names are the keywords. We never speak BGP ourselves:
``speaker`` names the engine we drive (ExaBGP by default, BIRD as the option that has BFD).
Cross-field rules that need only this block are enforced in ``__post_init__`` (the grammar
turns the ``ValueError`` into a diagnostic); those that need the virtual servers are in
``checks_bgp``.

    bgp_speaker {
        speaker exabgp              # or bird
        router_id 192.168.88.21
        local_as 65001
        local_address 192.168.88.21
        hold_time 3                 # seconds (0, or 3..65535)
        bfd off                     # BIRD only: bfd_interval_ms x bfd_multiplier
        announce_delay 0.5          # a VIP's gate must hold this long before it is announced
        neighbor 192.168.88.1 {
            peer_as 65000
        }
        announce {
            192.168.99.100          # gated by: every virtual_server on it has quorum (all)
            192.168.99.101 any      # ... or: at least one has (any); or always
        }
    }
"""

import ipaddress
from dataclasses import dataclass
from typing import Any, ClassVar

from pykeepalived.config.diagnostics import Location
from pykeepalived.config.grammar import BadValue, Context, Where, kw, where_field
from pykeepalived.config.tree import Statement
from pykeepalived.config.values import (
    IPAddress,
    address,
    arg,
    block,
    choice,
    flag,
    integer,
    lines,
    no_block,
    number,
    to_address,
    word,
)

SPEAKERS = {"exabgp": "exabgp", "bird": "bird"}
GATES = ("all", "any", "always")
MAX_ASN = (1 << 32) - 1


@dataclass(frozen=True, slots=True, kw_only=True)
class AnnounceLine:
    """An ``announce`` line: ``VIP [all|any|always]``."""

    vip: IPAddress
    gate: str = "all"
    location: Location | None = None

    @property
    def prefix(self) -> str:
        return f"{self.vip}/{self.vip.max_prefixlen}"


def announce_line(st: Statement, ctx: Context) -> AnnounceLine:
    no_block(st)
    vip = to_address(st.keyword)
    gate = st.args[0].text if st.args else "all"
    if gate not in GATES:
        raise BadValue(st.args[0], f"unknown gate '{gate}' (one of: {', '.join(GATES)})", "choice")
    return AnnounceLine(vip=vip, gate=gate, location=st.location)


@dataclass(frozen=True, slots=True, kw_only=True)
class BgpNeighbor:
    BLOCK_NAME: ClassVar[str] = "neighbor"
    address: IPAddress
    peer_as: int | None = kw(None, integer(1, MAX_ASN))
    passive: bool = kw(False, flag())
    where: Where = where_field()

    def __post_init__(self) -> None:
        if self.peer_as is None:
            raise ValueError(f"neighbor {self.address}: peer_as is required")


def _neighbor_header(st: Statement) -> dict[str, Any]:
    return {"address": to_address(arg(st, 0, "the neighbour's address"))}


@dataclass(frozen=True, slots=True, kw_only=True)
class BgpSpeaker:
    BLOCK_NAME: ClassVar[str] = "bgp_speaker"
    speaker: str = kw("exabgp", choice(SPEAKERS, what="BGP speaker"))
    router_id: IPAddress | None = kw(None, address())
    local_as: int | None = kw(None, integer(1, MAX_ASN))
    local_address: IPAddress | None = kw(None, address())
    hold_time: int = kw(3, integer(0, 65535))
    bfd: bool = kw(False, flag())
    bfd_interval_ms: int = kw(100, integer(10, 10000))
    bfd_multiplier: int = kw(3, integer(1, 255))
    announce_delay: float = kw(0.0, number(0, 3600))
    neighbor: tuple[BgpNeighbor, ...] = kw(
        (), block(BgpNeighbor, _neighbor_header), repeat=True, aliases=("neighbour",)
    )
    announce: tuple[AnnounceLine, ...] | None = kw(None, lines(announce_line))
    speaker_path: str | None = kw(None, word())  # the exabgp or bird program
    birdc_path: str | None = kw(None, word())
    state_dir: str = kw("/run/pykeepalived", word())
    where: Where = where_field()

    def __post_init__(self) -> None:
        if self.local_as is None:
            raise ValueError("bgp_speaker: local_as is required")
        if not self.neighbor:
            raise ValueError("bgp_speaker: at least one neighbor is required")
        if self.router_id is None and not isinstance(self.local_address, ipaddress.IPv4Address):
            raise ValueError("bgp_speaker: router_id is required (or an IPv4 local_address)")
        if 0 < self.hold_time < 3:
            raise ValueError("bgp_speaker: hold_time must be 0 or at least 3 (RFC 4271 4.2)")
        if self.bfd and self.speaker != "bird":
            raise ValueError("bgp_speaker: ExaBGP has no BFD; use 'speaker bird' for bfd")
        seen = [n.address for n in self.neighbor]
        if len(set(seen)) != len(seen):
            raise ValueError("bgp_speaker: a neighbor is given twice")

    @property
    def effective_router_id(self) -> IPAddress:
        rid = self.router_id or self.local_address
        assert rid is not None  # __post_init__
        return rid


bgp_speaker = block(BgpSpeaker)


def hash_seed() -> Any:
    """``lvs_hash_seed 0x1234abcd``: decimal or hexadecimal, 0..2^32-1."""

    def parse(st: Statement, ctx: Context) -> int:
        no_block(st)
        token = arg(st, 0, "a seed")
        try:
            value = int(token.text, 16 if token.text.lower().startswith("0x") else 10)
        except ValueError:
            raise BadValue(token, f"expected a number, got '{token.text}'") from None
        if not 0 <= value <= MAX_ASN:
            raise BadValue(token, f"seed {token.text} is out of range (0..0xffffffff)", "range")
        return value

    return parse
