"""Request bodies of the mutating endpoints -> ``Command``, checked against the snapshot.

Rules: pure functions, no I/O. Everything here is untrusted input: any problem raises
``BadRequest`` (HTTP 400) or ``NotFound`` (404) with a message for the operator; nothing else
escapes for bad input. Real servers and instances are looked up in the snapshot first so an
unknown name is refused before the daemon sees the command.
"""

import json
from typing import Any

from pykeepalived.state import MAX_HOLD_S, Command, CommandKind, DaemonSnapshot

MAX_WEIGHT = 65535  # keepalived's weight range is 0..65535 (IPVS takes an int32 >= 0)


class ApiInputError(Exception):
    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(ApiInputError):
    status = 400


class NotFound(ApiInputError):
    status = 404


REAL_SERVER_FIELDS = {"virtual_server": str, "address": str, "port": int}


def parse_object(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object; an empty body is ``{}``."""
    if not raw.strip():
        return {}
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("the body is not UTF-8 text") from None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise BadRequest(f"the body must be a JSON object, not {type(value).__name__}")
    return value


def _fields(body: dict[str, Any], wanted: dict[str, type]) -> dict[str, Any]:
    unknown = sorted(set(body) - set(wanted))
    if unknown:
        raise BadRequest(f"unknown field(s) {', '.join(unknown)}; expected {', '.join(wanted)}")
    out: dict[str, Any] = {}
    for name, kind in wanted.items():
        if name not in body:
            raise BadRequest(f"missing field '{name}'")
        value = body[name]
        # bool is an int in Python; JSON true is not a port or a weight.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise BadRequest(f"field '{name}' must be a {kind.__name__}, got {value!r:.60}")
        out[name] = value
    return out


def real_server_command(kind: CommandKind, raw: bytes, snap: DaemonSnapshot) -> Command:
    """drain / undrain / set-weight of one real server named by its virtual server + address."""
    wanted = dict(REAL_SERVER_FIELDS)
    if kind is CommandKind.SET_WEIGHT:
        wanted["weight"] = int
    f = _fields(parse_object(raw), wanted)
    if not 0 <= f["port"] <= 65535:
        raise BadRequest(f"port {f['port']} is out of range 0..65535")
    if "weight" in f and not 0 <= f["weight"] <= MAX_WEIGHT:
        raise BadRequest(f"weight {f['weight']} is out of range 0..{MAX_WEIGHT}")
    find_real_server(snap, f["virtual_server"], f["address"], f["port"])
    return Command(
        kind=kind,
        virtual_server=f["virtual_server"],
        address=f["address"],
        port=f["port"],
        weight=f.get("weight"),
    )


def find_real_server(snap: DaemonSnapshot, vs_id: str, address: str, port: int) -> None:
    for vs in snap.virtual_servers:
        if vs.id != vs_id:
            continue
        if any(rs.address == address and rs.port == port for rs in vs.real_servers):
            return
        known = ", ".join(f"{rs.address}:{rs.port}" for rs in vs.real_servers) or "none"
        raise NotFound(f"no real server {address}:{port} in {vs_id} (it has: {known})")
    known = ", ".join(vs.id for vs in snap.virtual_servers) or "none"
    raise NotFound(f"no virtual server {vs_id!r} (known: {known})")


def instance_command(kind: CommandKind, name: str, raw: bytes, snap: DaemonSnapshot) -> Command:
    """release-master (optional body ``{"hold_s": seconds}``) / reclaim-master (no body)."""
    body = parse_object(raw)
    allowed = ["hold_s"] if kind is CommandKind.RELEASE_MASTER else []
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        expected = f"expected only {', '.join(allowed)}" if allowed else "expected an empty body"
        raise BadRequest(f"unknown field(s) {', '.join(unknown)}; {expected}")
    hold_s = body.get("hold_s")
    if hold_s is not None:
        if isinstance(hold_s, bool) or not isinstance(hold_s, int | float):
            raise BadRequest(f"field 'hold_s' must be a number of seconds, got {hold_s!r:.60}")
        if not 0 < hold_s <= MAX_HOLD_S:  # false for NaN and infinities too
            raise BadRequest(f"hold_s {hold_s!r:.30} is out of range (0, {MAX_HOLD_S:g}]")
    if not any(i.name == name for i in snap.instances):
        known = ", ".join(i.name for i in snap.instances) or "none"
        raise NotFound(f"no vrrp_instance {name!r} (known: {known})")
    return Command(kind=kind, instance=name, hold_s=None if hold_s is None else float(hold_s))


def reload_command(raw: bytes) -> Command:
    _fields(parse_object(raw), {})
    return Command(kind=CommandKind.RELOAD)
