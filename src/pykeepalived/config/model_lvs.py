"""Model of the LVS side: virtual_server, real_server, SSL (groups: ``model_lvs_group``).

Rules: frozen dataclasses, field names are keepalived's keywords (current names; the older
``lb_algo``/``lb_kind`` spellings are accepted as they are still everywhere); defaults are
keepalived's. Timers a real server or checker may override are ``None`` there ("inherit").
"""

import dataclasses
import ipaddress
from dataclasses import dataclass
from typing import Any, ClassVar

from pykeepalived.config.grammar import BadValue, Context, Parse, Where, kw, where_field
from pykeepalived.config.lexer import Token
from pykeepalived.config.model_check import (
    AnyChecker,
    BfdCheck,
    DnsCheck,
    FileCheck,
    HttpGet,
    MiscCheck,
    PingCheck,
    SmtpCheck,
    SslGet,
    TcpCheck,
    UdpCheck,
)
from pykeepalived.config.model_common import Script, script
from pykeepalived.config.model_lvs_group import VirtualServerGroup as VirtualServerGroup
from pykeepalived.config.tree import Statement
from pykeepalived.config.values import (
    IPAddress,
    arg,
    block,
    choice,
    flag,
    integer,
    no_block,
    number,
    pick,
    to_address,
    to_bool,
    to_int,
    word,
)

SCHEDULERS = {name: name for name in "rr wrr lc wlc lblc lblcr dh sh sed nq fo ovf mh twos".split()}
METHODS = {"NAT": "NAT", "DR": "DR", "TUN": "TUN", "MASQ": "NAT", "GATE": "DR", "IPIP": "TUN"}
PROTOCOLS = {"TCP": "TCP", "UDP": "UDP", "SCTP": "SCTP"}
TUNNEL_TYPES = ("ipip", "gue", "gre")


@dataclass(frozen=True, slots=True, kw_only=True)
class LvsMethod:
    """``lvs_method NAT|DR|TUN [type ipip|gue port N|gre] [nocsum|csum|remcsum]``."""

    kind: str
    tunnel_type: str | None = None
    tunnel_port: int | None = None
    tunnel_csum: str | None = None


def parse_lvs_method() -> Parse:
    def parse(st: Statement, ctx: Context) -> LvsMethod:
        no_block(st)
        kind = pick(arg(st, 0, "a forwarding method"), METHODS, what="lvs_method", ctx=ctx)
        rest = list(st.args[1:])
        if rest and kind != "TUN":
            raise BadValue(rest[0], f"'{kind}' takes no tunnel options", "syntax")
        fields: dict[str, Any] = {"kind": kind}
        while rest:
            token = rest.pop(0)
            fields.update(_tunnel_option(token, rest))
        if fields.get("tunnel_type") == "gue" and "tunnel_port" not in fields:
            raise BadValue(st.keyword, "a GUE tunnel needs 'port N'", "missing")
        return LvsMethod(**fields)

    return parse


def _tunnel_option(token: Token, rest: list[Token]) -> dict[str, Any]:
    if token.text in ("nocsum", "csum", "remcsum"):
        return {"tunnel_csum": token.text}
    if token.text in ("type", "port") and rest:
        value = rest.pop(0)
        if token.text == "port":
            return {"tunnel_port": to_int(value, 1, 65535)}
        if value.text.lower() not in TUNNEL_TYPES:
            raise BadValue(value, f"unknown tunnel type '{value.text}' (ipip, gue, gre)", "choice")
        return {"tunnel_type": value.text.lower()}
    raise BadValue(token, f"unexpected '{token.text}' in lvs_method", "syntax")


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerAddress:
    """``sorry_server <IP> [<PORT>]``."""

    ip: IPAddress
    port: int | None = None


def server_address() -> Parse:
    def parse(st: Statement, ctx: Context) -> ServerAddress:
        no_block(st)
        ip = to_address(arg(st, 0, "an address"))
        port = to_int(st.args[1], 0, 65535) if len(st.args) > 1 else None
        return ServerAddress(ip=ip, port=port)

    return parse


def _bool_or_flag() -> Parse:
    def parse(st: Statement, ctx: Context) -> bool:
        no_block(st)
        return True if not st.args else to_bool(st.args[0])

    return parse


def _persistence_timeout() -> Parse:
    """``persistence_timeout [N]``: the keyword alone means keepalived's 360 s."""

    def parse(st: Statement, ctx: Context) -> int:
        no_block(st)
        return to_int(st.args[0], 0, (1 << 31) - 1) if st.args else 360

    return parse


def _netmask() -> Parse:
    def parse(st: Statement, ctx: Context) -> str:
        no_block(st)
        token = arg(st, 0, "a netmask")
        try:
            ipaddress.ip_network(f"0.0.0.0/{token.text}")
        except ValueError:
            try:
                ipaddress.ip_network(f"::/{token.text.lstrip('/')}")
            except ValueError:
                raise BadValue(token, f"'{token.text}' is not a netmask", "address") from None
        return token.text

    return parse


@dataclass(frozen=True, slots=True, kw_only=True)
class RealServer:
    BLOCK_NAME: ClassVar[str] = "real_server"
    ip: IPAddress
    port: int | None = None
    # Not given: the virtual_server's ``weight`` (default 1), filled in by ``virtual_server``.
    weight: int = kw(1, integer(0, 65535))
    lvs_method: LvsMethod | None = kw(None, parse_lvs_method(), aliases=("lb_kind",))
    notify_up: Script | None = kw(None, script())
    notify_down: Script | None = kw(None, script())
    uthreshold: int | None = kw(None, integer(0, (1 << 32) - 1))
    lthreshold: int | None = kw(None, integer(0, (1 << 32) - 1))
    smtp_alert: bool | None = kw(None, _bool_or_flag())
    virtualhost: str | None = kw(None, word())
    snmp_name: str | None = kw(None, word())
    alpha: bool | None = kw(None, _bool_or_flag())
    connect_timeout: float | None = kw(None, number(0.001, 3600))
    retry: int | None = kw(None, integer(0, 1 << 20), deprecated=("nb_get_retry",))
    delay_before_retry: float | None = kw(None, number(0, 3600))
    warmup: float | None = kw(None, number(0, 3600))
    delay_loop: float | None = kw(None, number(0.001, 3600))
    inhibit_on_failure: bool | None = kw(None, _bool_or_flag())
    rise: int | None = kw(None, integer(1, 1000))
    fall: int | None = kw(None, integer(1, 1000))
    HTTP_GET: tuple[HttpGet, ...] = kw((), block(HttpGet), repeat=True)
    SSL_GET: tuple[SslGet, ...] = kw((), block(SslGet), repeat=True)
    TCP_CHECK: tuple[TcpCheck, ...] = kw((), block(TcpCheck), repeat=True)
    SMTP_CHECK: tuple[SmtpCheck, ...] = kw((), block(SmtpCheck), repeat=True)
    DNS_CHECK: tuple[DnsCheck, ...] = kw((), block(DnsCheck), repeat=True)
    MISC_CHECK: tuple[MiscCheck, ...] = kw((), block(MiscCheck), repeat=True)
    PING_CHECK: tuple[PingCheck, ...] = kw((), block(PingCheck), repeat=True)
    UDP_CHECK: tuple[UdpCheck, ...] = kw((), block(UdpCheck), repeat=True)
    FILE_CHECK: tuple[FileCheck, ...] = kw((), block(FileCheck), repeat=True)
    BFD_CHECK: tuple[BfdCheck, ...] = kw((), block(BfdCheck), repeat=True)
    where: Where = where_field()

    @property
    def checkers(self) -> tuple[AnyChecker, ...]:
        return (
            *self.HTTP_GET,
            *self.SSL_GET,
            *self.TCP_CHECK,
            *self.SMTP_CHECK,
            *self.DNS_CHECK,
            *self.MISC_CHECK,
            *self.PING_CHECK,
            *self.UDP_CHECK,
            *self.FILE_CHECK,
            *self.BFD_CHECK,
        )


def _address_port_header(st: Statement) -> dict[str, Any]:
    ip = to_address(arg(st, 0, "an address"))
    port = to_int(st.args[1], 0, 65535) if len(st.args) > 1 else None
    if len(st.args) > 2:
        raise BadValue(st.args[2], f"unexpected '{st.args[2].text}' after the port", "syntax")
    return {"ip": ip, "port": port}


def _virtual_server_header(st: Statement) -> dict[str, Any]:
    """``virtual_server <IP> [<PORT>]`` | ``fwmark <N>`` | ``group <NAME>``."""
    first = arg(st, 0, "an address, 'fwmark N' or 'group NAME'")
    if first.text == "fwmark":
        return {"fwmark": to_int(arg(st, 1, "a firewall mark"), 1, (1 << 32) - 1)}
    if first.text == "group":
        return {"group": arg(st, 1, "a group name").text}
    return _address_port_header(st)


@dataclass(frozen=True, slots=True, kw_only=True)
class VirtualServer:
    BLOCK_NAME: ClassVar[str] = "virtual_server"
    IGNORED_KEYWORDS: ClassVar[dict[str, str]] = {
        "nat_mask": "'nat_mask' is deprecated and ignored (IPVS has no such setting)",
    }
    ip: IPAddress | None = None
    port: int | None = None
    fwmark: int | None = None
    group: str | None = None
    lvs_sched: str = kw("wlc", choice(SCHEDULERS, what="scheduler"), aliases=("lb_algo",))
    hashed: bool = kw(False, flag())
    flag_1: bool = kw(False, flag(), aliases=("flag-1",))
    flag_2: bool = kw(False, flag(), aliases=("flag-2",))
    flag_3: bool = kw(False, flag(), aliases=("flag-3",))
    sh_port: bool = kw(False, flag(), aliases=("sh-port",))
    sh_fallback: bool = kw(False, flag(), aliases=("sh-fallback",))
    mh_port: bool = kw(False, flag(), aliases=("mh-port",))
    mh_fallback: bool = kw(False, flag(), aliases=("mh-fallback",))
    ops: bool = kw(False, flag())
    lvs_method: LvsMethod = kw(LvsMethod(kind="NAT"), parse_lvs_method(), aliases=("lb_kind",))
    persistence_engine: str | None = kw(None, word())
    persistence_timeout: int | None = kw(None, _persistence_timeout())
    persistence_granularity: str | None = kw(None, _netmask())
    protocol: str = kw("TCP", choice(PROTOCOLS, what="protocol"))
    ha_suspend: bool = kw(False, flag())
    smtp_alert: bool | None = kw(None, _bool_or_flag())
    virtualhost: str | None = kw(None, word())
    snmp_name: str | None = kw(None, word())
    alpha: bool = kw(False, _bool_or_flag())
    omega: bool = kw(False, _bool_or_flag())
    quorum: int = kw(1, integer(0, (1 << 31) - 1))
    hysteresis: int = kw(0, integer(0, (1 << 31) - 1))
    weight: int = kw(1, integer(1, 65535))
    quorum_up: Script | None = kw(None, script())
    quorum_down: Script | None = kw(None, script())
    ip_family: str | None = kw(None, choice({"inet": "inet", "inet6": "inet6"}, what="family"))
    # A sorry server without a port uses the service's port (none for a fwmark service).
    sorry_server: ServerAddress | None = kw(None, server_address())
    sorry_server_inhibit: bool = kw(False, _bool_or_flag())
    sorry_server_lvs_method: LvsMethod | None = kw(None, parse_lvs_method())
    connect_timeout: float = kw(5.0, number(0.001, 3600))
    retry: int | None = kw(None, integer(0, 1 << 20), deprecated=("nb_get_retry",))
    delay_before_retry: float | None = kw(None, number(0, 3600))
    warmup: float | None = kw(None, number(0, 3600))
    delay_loop: float = kw(60.0, number(0.001, 3600))
    inhibit_on_failure: bool = kw(False, _bool_or_flag())
    rise: int | None = kw(None, integer(1, 1000))
    fall: int | None = kw(None, integer(1, 1000))
    real_server: tuple[RealServer, ...] = kw(
        (), block(RealServer, _address_port_header), repeat=True
    )
    where: Where = where_field()

    @property
    def key(self) -> str:
        """The identity keepalived and ipvsadm show: ``IP:PORT``, ``FWM N`` or ``group NAME``."""
        if self.fwmark is not None:
            return f"FWM {self.fwmark}"
        if self.group is not None:
            return f"group {self.group}"
        host = f"[{self.ip}]" if self.ip is not None and self.ip.version == 6 else str(self.ip)
        return f"{host}:{self.port if self.port is not None else 0}"

    @property
    def id(self) -> str:
        """``192.168.88.100:80/TCP``, ``FWM 1/TCP``, ``group web/TCP``: one id per config block.

        The LVS layer keys quorum and real servers by it, the checker layer its checker keys.
        """
        return f"{self.key}/{self.protocol}"


@dataclass(frozen=True, slots=True, kw_only=True)
class SslContext:
    BLOCK_NAME: ClassVar[str] = "SSL"
    password: str | None = kw(None, word())
    ca: str | None = kw(None, word())
    certificate: str | None = kw(None, word())
    key: str | None = kw(None, word())
    where: Where = where_field()


_virtual_server_block = block(VirtualServer, _virtual_server_header)


def virtual_server(st: Statement, ctx: Context) -> VirtualServer:
    """A virtual_server block; a real server without ``weight`` takes the service's ``weight``.

    Without ``protocol`` an address service is TCP here, but keepalived 2.2.7 makes it UDP
    (and reports that): say so, since the same file then means different services.
    """
    vs: VirtualServer = _virtual_server_block(st, ctx)
    if vs.ip is not None and "protocol" not in vs.where.keywords:
        message = (
            f"virtual_server {vs.key} has no 'protocol': TCP is used, but keepalived 2.2.7 "
            "uses UDP; write 'protocol TCP' (or UDP/SCTP)"
        )
        ctx.diags.warning(st.location, message, "default")
    if all("weight" in rs.where.keywords for rs in vs.real_server):
        return vs
    servers = tuple(
        rs if "weight" in rs.where.keywords else dataclasses.replace(rs, weight=vs.weight)
        for rs in vs.real_server
    )
    return dataclasses.replace(vs, real_server=servers)
