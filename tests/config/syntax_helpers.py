"""Shared by the syntax-layer tests: a small valid instance and loading helpers."""

from pathlib import Path

from pykeepalived.config.loader import LoadResult, load
from pykeepalived.config.model_vrrp import VrrpInstance

INSTANCE = """\
vrrp_instance VI_1 {
    state MASTER
    interface eth0
    virtual_router_id 51
    priority 100
    virtual_ipaddress {
        192.168.1.10/24
    }
}
"""


def load_text(text: str, *, path: str = "t.conf", config_id: str = "lb1") -> LoadResult:
    return load(path, text=text, config_id=config_id, environment=None)


def only_instance(result: LoadResult) -> VrrpInstance:
    assert result.ok, [d.render() for d in result.diagnostics]
    assert result.config is not None
    (inst,) = result.config.vrrp_instance
    return inst


def messages(result: LoadResult) -> list[tuple[str, int, str]]:
    return [(d.severity.value, d.location.line, d.message) for d in result.diagnostics]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path
