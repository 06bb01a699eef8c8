"""Where the API listens and where its token lives: parsed from ``--api [ADDR:]PORT`` or the
``global_defs`` extension keywords ``api_listen`` / ``api_token_file``.

Rules: values only, no I/O. An address-less listen spec binds 127.0.0.1: exposing the API
beyond the machine must be written out.
"""

import ipaddress
from dataclasses import dataclass

DEFAULT_HOST = "127.0.0.1"


class ApiSettingsError(ValueError):
    """A listen spec that cannot be used; the message says why."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiSettings:
    host: str = DEFAULT_HOST
    port: int
    token_file: str | None = None  # None: mutating endpoints answer 403
    events_limit: int = 200

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:  # 0: any free port (tests)
            raise ApiSettingsError(f"API port {self.port} is out of range 0..65535")
        try:
            ipaddress.ip_address(self.host)
        except ValueError:
            raise ApiSettingsError(f"API address {self.host!r} is not an IP address") from None

    @property
    def loopback(self) -> bool:
        """Reads are open only on a loopback address; beyond, they need the token too."""
        return ipaddress.ip_address(self.host).is_loopback

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


def parse_listen(spec: str, token_file: str | None = None) -> ApiSettings:
    """``8080``, ``127.0.0.1:8080``, ``[::1]:8080`` or ``0.0.0.0:8080`` -> settings."""
    text = spec.strip()
    host = DEFAULT_HOST
    if text.startswith("["):
        inner, sep, rest = text[1:].partition("]")
        if not sep or not rest.startswith(":"):
            raise ApiSettingsError(f"API listen {spec!r}: expected [ADDR]:PORT")
        host, text = inner, rest[1:]
    elif ":" in text:
        host, _, text = text.rpartition(":")
    if not text.isdigit():
        raise ApiSettingsError(f"API listen {spec!r}: the port must be a number")
    return ApiSettings(host=host, port=int(text), token_file=token_file)
