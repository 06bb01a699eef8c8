"""Dump: the model as plain JSON-ready data, for ``--dump-config``, golden tests and tools.

Rules: field order is the model's (keepalived's keyword order), so dumps are stable; addresses
become strings, tuples lists; ``where``/``location`` (positions in the file) are left out so
that moving a block does not change the dump.
"""

import dataclasses
import ipaddress
import json
from typing import Any

from pykeepalived.config.model import KeepalivedConfig

_SKIP = frozenset({"where", "location"})


def to_data(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: to_data(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if f.name not in _SKIP
        }
    if isinstance(value, tuple | list):
        return [to_data(v) for v in value]
    if isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return str(value)
    if isinstance(value, ipaddress.IPv4Interface | ipaddress.IPv6Interface):
        return value.with_prefixlen
    if isinstance(value, ipaddress.IPv4Network | ipaddress.IPv6Network):
        return value.with_prefixlen
    return value


def dump_json(config: KeepalivedConfig) -> str:
    return json.dumps(to_data(config), indent=2, ensure_ascii=False) + "\n"
