"""Model of the health checkers inside ``real_server``: HTTP_GET, SSL_GET, TCP_CHECK, ...

Rules: one frozen dataclass per checker type, named after the keyword; the options every
checker shares live in ``CheckerCommon``. ``None`` means "inherit from the real server, then the
virtual server", as keepalived does; the effective values are resolved by the checker layer.
"""

from dataclasses import dataclass
from typing import ClassVar

from pykeepalived.config.grammar import BadValue, Context, Parse, Where, kw, where_field
from pykeepalived.config.model_common import RunAs, Script, run_as, script, weight_reverse
from pykeepalived.config.tree import Statement
from pykeepalived.config.values import (
    IPAddress,
    address,
    block,
    choice,
    flag,
    integer,
    no_block,
    number,
    to_bool,
    word,
    words,
)

PORT = (1, 65535)
HTTP_PROTOCOLS = {"1.0": "1.0", "1.0C": "1.0C", "1.0c": "1.0C", "1.1": "1.1"}


def _bool_or_flag() -> Parse:
    def parse(st: Statement, ctx: Context) -> bool:
        no_block(st)
        return True if not st.args else to_bool(st.args[0])

    return parse


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusRange:
    low: int
    high: int


def _status_codes() -> Parse:
    """``status_code 200`` or ``status_code 200-299 400-499 503``."""

    def parse(st: Statement, ctx: Context) -> tuple[StatusRange, ...]:
        no_block(st)
        if not st.args:
            raise BadValue(st.keyword, "'status_code' needs a code or range", "missing")
        out: list[StatusRange] = []
        for token in st.args:
            low_text, _, high_text = token.text.partition("-")
            low = _code(token, low_text)
            high = _code(token, high_text) if high_text else low
            if high < low:
                raise BadValue(token, f"status range '{token.text}' is backwards", "range")
            out.append(StatusRange(low=low, high=high))
        return tuple(out)

    return parse


def _code(token: object, text: str) -> int:
    from pykeepalived.config.lexer import Token

    assert isinstance(token, Token)
    if not text.isdigit() or not 100 <= int(text) <= 599:
        raise BadValue(token, f"'{token.text}' is not an HTTP status code (100-599)", "range")
    return int(text)


@dataclass(frozen=True, slots=True, kw_only=True)
class Url:
    BLOCK_NAME: ClassVar[str] = "url"
    path: str | None = kw(None, word())
    digest: str | None = kw(None, word())
    status_code: tuple[StatusRange, ...] = kw((StatusRange(low=200, high=299),), _status_codes())
    virtualhost: str | None = kw(None, word())
    regex: str | None = kw(None, word())
    regex_no_match: bool = kw(False, flag())
    regex_options: tuple[str, ...] = kw((), words())
    regex_stack: tuple[str, ...] | None = kw(None, words())
    regex_min_offset: int | None = kw(None, integer(0, 1 << 31))
    regex_max_offset: int | None = kw(None, integer(0, 1 << 31))
    where: Where = where_field()


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckerCommon:
    connect_ip: IPAddress | None = kw(None, address())
    connect_port: int | None = kw(None, integer(*PORT))
    bindto: IPAddress | None = kw(None, address())
    bind_if: str | None = kw(None, word())
    bind_port: int | None = kw(None, integer(*PORT))
    fwmark: int | None = kw(None, integer(0, (1 << 32) - 1))
    alpha: bool | None = kw(None, _bool_or_flag())
    connect_timeout: float | None = kw(None, number(0.001, 3600))
    retry: int | None = kw(None, integer(0, 1 << 20), deprecated=("nb_get_retry", "nb_sock_retry"))
    delay_before_retry: float | None = kw(None, number(0, 3600))
    warmup: float | None = kw(None, number(0, 3600))
    delay_loop: float | None = kw(None, number(0.001, 3600))
    log_all_failures: bool | None = kw(None, _bool_or_flag())
    rise: int | None = kw(None, integer(1, 1000))
    fall: int | None = kw(None, integer(1, 1000))
    where: Where = where_field()


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpGet(CheckerCommon):
    BLOCK_NAME: ClassVar[str] = "HTTP_GET"
    KIND: ClassVar[str] = "HTTP_GET"
    url: tuple[Url, ...] = kw((), block(Url), repeat=True)
    http_protocol: str = kw("1.0", choice(HTTP_PROTOCOLS, what="http_protocol", fold_case=False))
    fast_recovery: bool = kw(False, _bool_or_flag())
    virtualhost: str | None = kw(None, word())
    enable_sni: bool = kw(False, flag())


@dataclass(frozen=True, slots=True, kw_only=True)
class SslGet(HttpGet):
    BLOCK_NAME: ClassVar[str] = "SSL_GET"
    KIND: ClassVar[str] = "SSL_GET"


@dataclass(frozen=True, slots=True, kw_only=True)
class TcpCheck(CheckerCommon):
    BLOCK_NAME: ClassVar[str] = "TCP_CHECK"
    KIND: ClassVar[str] = "TCP_CHECK"


@dataclass(frozen=True, slots=True, kw_only=True)
class SmtpCheck(CheckerCommon):
    BLOCK_NAME: ClassVar[str] = "SMTP_CHECK"
    KIND: ClassVar[str] = "SMTP_CHECK"
    helo_name: str | None = kw(None, word())
    host: tuple[CheckerCommon, ...] = kw((), block(CheckerCommon), repeat=True)


DNS_TYPES = ("A", "NS", "CNAME", "SOA", "MX", "TXT", "AAAA")


def _dns_type() -> Parse:
    def parse(st: Statement, ctx: Context) -> str:
        no_block(st)
        if not st.args:
            raise BadValue(st.keyword, "'type' needs a DNS record type", "missing")
        value = st.args[0].text.upper()
        if value not in DNS_TYPES:
            raise BadValue(st.args[0], f"unknown DNS type '{st.args[0].text}'", "choice")
        return value

    return parse


@dataclass(frozen=True, slots=True, kw_only=True)
class DnsCheck(CheckerCommon):
    BLOCK_NAME: ClassVar[str] = "DNS_CHECK"
    KIND: ClassVar[str] = "DNS_CHECK"
    type: str = kw("SOA", _dns_type())
    name: str = kw(".", word())


@dataclass(frozen=True, slots=True, kw_only=True)
class MiscCheck(CheckerCommon):
    BLOCK_NAME: ClassVar[str] = "MISC_CHECK"
    KIND: ClassVar[str] = "MISC_CHECK"
    misc_path: Script | None = kw(None, script())
    misc_timeout: float | None = kw(None, number(0.001, 3600))
    misc_dynamic: bool = kw(False, flag())
    user: RunAs | None = kw(None, run_as())


@dataclass(frozen=True, slots=True, kw_only=True)
class PingCheck(CheckerCommon):
    BLOCK_NAME: ClassVar[str] = "PING_CHECK"
    KIND: ClassVar[str] = "PING_CHECK"


def _hex() -> Parse:
    """keepalived's free-form hex (``Ab12f 3 456``): kept as written, validated as hex digits."""

    def parse(st: Statement, ctx: Context) -> str:
        no_block(st)
        text = " ".join(t.text for t in st.args)
        allowed = set("0123456789abcdefABCDEFxX ")
        for token in st.args:
            if not set(token.text) <= allowed:
                raise BadValue(token, f"'{token.text}' is not hexadecimal", "value")
        return text

    return parse


@dataclass(frozen=True, slots=True, kw_only=True)
class UdpCheck(CheckerCommon):
    BLOCK_NAME: ClassVar[str] = "UDP_CHECK"
    KIND: ClassVar[str] = "UDP_CHECK"
    payload: str | None = kw(None, _hex())
    require_reply: str | None = kw(None, _hex())
    min_reply_length: int = kw(0, integer(0, 65535))
    max_reply_length: int = kw(255, integer(0, 65535))


@dataclass(frozen=True, slots=True, kw_only=True)
class FileCheck:
    BLOCK_NAME: ClassVar[str] = "FILE_CHECK"
    KIND: ClassVar[str] = "FILE_CHECK"
    track_file: str | None = kw(None, word())
    dynamic: bool = kw(False, flag())
    # Not given: the track_file block's weight and reverse.
    weight: int | None = kw(None, weight_reverse(-65535, 65535), max_args=2)
    weight_reverse: bool | None = None
    where: Where = where_field()


@dataclass(frozen=True, slots=True, kw_only=True)
class BfdCheck:
    BLOCK_NAME: ClassVar[str] = "BFD_CHECK"
    KIND: ClassVar[str] = "BFD_CHECK"
    name: str | None = kw(None, word())
    alpha: bool | None = kw(None, _bool_or_flag())
    where: Where = where_field()


Checker = HttpGet | SslGet | TcpCheck | SmtpCheck | DnsCheck | MiscCheck | PingCheck | UdpCheck
AnyChecker = Checker | FileCheck | BfdCheck
