"""--api / api_listen parsing, and the global_defs extension keywords."""

import pytest

from pykeepalived.api.settings import ApiSettings, ApiSettingsError, parse_listen
from pykeepalived.config.loader import load


def test_listen_specs() -> None:
    assert parse_listen("8080") == ApiSettings(host="127.0.0.1", port=8080)
    assert parse_listen("0.0.0.0:81", "/t") == ApiSettings(host="0.0.0.0", port=81, token_file="/t")
    assert parse_listen("[::1]:9000").host == "::1"
    assert parse_listen("[::1]:9000").url == "http://[::1]:9000"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("http", "the port must be a number"),
        ("1.2.3.4:", "the port must be a number"),
        ("70000", "out of range"),
        ("localhost:80", "not an IP address"),
        ("[::1]9000", "expected [ADDR]:PORT"),
    ],
)
def test_bad_listen_specs_say_why(spec: str, message: str) -> None:
    with pytest.raises(ApiSettingsError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_listen(spec)


def test_global_defs_extension_keywords() -> None:
    result = load(
        "k.conf", text="global_defs {\n api_listen 127.0.0.1:8080\n api_token_file /etc/t\n}\n"
    )
    assert result.ok, [d.render() for d in result.diagnostics]
    assert result.config is not None
    g = result.config.global_defs
    assert (g.api_listen, g.api_token_file) == ("127.0.0.1:8080", "/etc/t")
