"""Snapshots as JSON, and the JSON Schema of that JSON, both derived from ``state``'s types.

Rules: the dataclasses in ``pykeepalived.state`` are the one source of truth. ``to_json`` walks
their fields; ``schema_of`` reads their type hints; so a field added to a view appears in the
API, its OpenAPI document and the dashboard's data without a second list to keep in step.
Tuple-of-tuple fields named in ``NAMED_PAIRS`` (counters by reason, histogram buckets) become
lists of named objects.
"""

import dataclasses
import types
import typing
from typing import Any

from pykeepalived import state

JsonObject = dict[str, Any]

# (field name in DaemonSnapshot) -> names of the tuple's items, in order.
NAMED_PAIRS: dict[str, tuple[str, ...]] = {
    "packet_errors": ("reason", "count"),
    "check_results": ("checker", "result", "count"),
    "smtp_alerts": ("result", "count"),
    "latency_buckets": ("le", "count"),
    "state_changes": ("from_state", "to_state", "count"),
}

VIEW_TYPES: tuple[type, ...] = (
    state.Transition,
    state.InstanceView,
    state.SyncGroupView,
    state.ProbeView,
    state.CountersView,
    state.RealServerView,
    state.VirtualServerView,
    state.Event,
    state.BgpPrefixView,
    state.DaemonSnapshot,
)


def to_json(value: Any) -> Any:
    """A view (or a tuple of views) as plain JSON values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out: JsonObject = {}
        for f in dataclasses.fields(value):
            item = getattr(value, f.name)
            if f.name in NAMED_PAIRS:
                names = NAMED_PAIRS[f.name]
                out[f.name] = [dict(zip(names, row, strict=True)) for row in item]
            else:
                out[f.name] = to_json(item)
        return out
    if isinstance(value, tuple | list):
        return [to_json(v) for v in value]
    return value


_SCALARS: dict[Any, str] = {int: "integer", float: "number", str: "string", bool: "boolean"}


def _type_schema(hint: Any) -> JsonObject:
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(options) != 1:
            raise TypeError(f"unsupported union {hint!r}")
        inner = _type_schema(options[0])
        if "$ref" in inner:
            return {"oneOf": [inner, {"type": "null"}]}
        return {**inner, "type": [inner["type"], "null"]}
    if origin is tuple:
        item, *_ = typing.get_args(hint)
        return {"type": "array", "items": _type_schema(item)}
    if hint in _SCALARS:
        return {"type": _SCALARS[hint]}
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return {"$ref": f"#/components/schemas/{hint.__name__}"}
    raise TypeError(f"no JSON schema for {hint!r}")


def schema_of(cls: type) -> JsonObject:
    """The JSON Schema (OpenAPI 3.1 dialect) of ``to_json(instance of cls)``."""
    hints = typing.get_type_hints(cls)
    properties: JsonObject = {}
    required: list[str] = []
    for f in dataclasses.fields(cls):
        if f.name in NAMED_PAIRS:
            names = NAMED_PAIRS[f.name]
            row = {
                "type": "object",
                "properties": {n: {"type": "integer" if n == "count" else "string"} for n in names},
                "required": list(names),
            }
            properties[f.name] = {"type": "array", "items": row}
        else:
            properties[f.name] = _type_schema(hints[f.name])
        required.append(f.name)
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


def schemas() -> dict[str, JsonObject]:
    return {cls.__name__: schema_of(cls) for cls in VIEW_TYPES}
