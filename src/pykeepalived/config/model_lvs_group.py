"""Model of ``virtual_server_group``: addresses, address ranges and fwmarks sharing one service.

Rules: frozen value objects; a range is kept as its first and last address (keepalived's three
spellings: last-octet ``10.0.0.1-10``, full ``10.0.0.250-10.0.1.10``, prefix ``10.0.0.8/29``).
"""

import ipaddress
from dataclasses import dataclass
from typing import ClassVar

from pykeepalived.config.diagnostics import Location
from pykeepalived.config.grammar import BadValue, Context, Parse, Where, where_field
from pykeepalived.config.lexer import Token
from pykeepalived.config.tree import Statement
from pykeepalived.config.values import IPAddress, arg, lines, no_block, to_int


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupMember:
    """A ``virtual_server_group`` line: an address or range with a port, or a fwmark."""

    first: IPAddress | None = None
    last: IPAddress | None = None
    port: int | None = None
    fwmark: int | None = None
    family: str | None = None
    location: Location | None = None


def group_member_line(st: Statement, ctx: Context) -> GroupMember:
    no_block(st)
    if st.keyword.text == "fwmark":
        mark = to_int(arg(st, 0, "a firewall mark"), 1, (1 << 32) - 1)
        family = st.args[1].text if len(st.args) > 1 else None
        if family not in (None, "inet", "inet6"):
            raise BadValue(st.args[1], f"unexpected '{family}' (inet or inet6)", "choice")
        return GroupMember(fwmark=mark, family=family, location=st.location)
    first, last = _address_range(st.keyword)
    port = to_int(st.args[0], 0, 65535) if st.args else None
    return GroupMember(first=first, last=last, port=port, location=st.location)


def _address_range(token: Token) -> tuple[IPAddress, IPAddress]:
    """``10.0.0.1``, ``10.0.0.1-10`` (last byte), ``10.0.0.250-10.0.1.10`` or ``10.0.0.8/29``."""
    text = token.text
    try:
        if "/" in text:
            net = ipaddress.ip_network(text, strict=False)
            return net[0], net[-1]
        low_text, sep, high_text = text.partition("-")
        low = ipaddress.ip_address(low_text)
        if not sep:
            return low, low
        if ":" in high_text or "." in high_text:
            high = ipaddress.ip_address(high_text)
        else:
            high = _replace_last_part(low, high_text)
    except ValueError:
        raise BadValue(token, f"'{text}' is not an address or address range", "address") from None
    if high.version != low.version or high < low:  # type: ignore[operator]
        raise BadValue(token, f"address range '{text}' is empty or mixes families", "range")
    return low, high


def _replace_last_part(low: IPAddress, last: str) -> IPAddress:
    if low.version == 4:
        return ipaddress.ip_address(".".join([*str(low).split(".")[:3], str(int(last, 10))]))
    value = int(last, 16)
    if value > 0xFFFF:
        raise ValueError(last)
    return ipaddress.ip_address((int(low) & ~0xFFFF) | value)


@dataclass(frozen=True, slots=True, kw_only=True)
class VirtualServerGroup:
    BLOCK_NAME: ClassVar[str] = "virtual_server_group"
    name: str
    members: tuple[GroupMember, ...] = ()
    where: Where = where_field()


def virtual_server_group() -> Parse:
    """Its lines are members, not keywords, so it is parsed here rather than by the engine."""

    def parse(st: Statement, ctx: Context) -> VirtualServerGroup:
        name = arg(st, 0, "a name").text
        items = lines(group_member_line)(st, ctx)
        return VirtualServerGroup(name=name, members=items, where=Where(block=st.location))

    return parse
