"""The OpenAPI 3.1 document of the JSON API, built from code.

Rules: this module is the one source of truth for the document; its schemas come from the
snapshot types (``views.schemas``). ``docs/api/openapi.json`` is its output, checked in for
readers and kept equal by a test; regenerate it with
``python -c 'from pykeepalived.api.openapi import render; print(render(), end="")' \
> docs/api/openapi.json``.
"""

import json
from typing import Any

from pykeepalived import __version__
from pykeepalived.api.commands import MAX_WEIGHT
from pykeepalived.api.views import JsonObject, schemas
from pykeepalived.state import MAX_HOLD_S

ERROR = {"$ref": "#/components/responses/Error"}


def _ref(name: str) -> JsonObject:
    return {"$ref": f"#/components/schemas/{name}"}


def _ok(schema: JsonObject, description: str = "OK") -> JsonObject:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _list_of(key: str, item: str) -> JsonObject:
    return {
        "type": "object",
        "properties": {key: {"type": "array", "items": _ref(item)}},
        "required": [key],
        "additionalProperties": False,
    }


def _get(summary: str, schema: JsonObject, **extra: Any) -> JsonObject:
    """Reads are open on loopback; beyond it they need the bearer token (401/403)."""
    errors = {code: ERROR for code in ("400", "401", "403")}
    return {
        "get": {
            "summary": summary,
            "security": [{}, {"bearer": []}],
            "responses": {"200": _ok(schema), **errors},
            **extra,
        }
    }


def _post(summary: str, body: str | None, *, optional: bool = False, **extra: Any) -> JsonObject:
    op: JsonObject = {
        "summary": summary,
        "security": [{"bearer": []}],
        "responses": {
            "200": _ok(_ref("CommandOk"), "Done"),
            **{code: ERROR for code in ("400", "401", "403", "404", "409", "503")},
        },
        **extra,
    }
    if body is not None:
        op["requestBody"] = {
            "required": not optional,
            "content": {"application/json": {"schema": _ref(body)}},
        }
    return {"post": op}


NAME = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}


def _paths() -> JsonObject:
    return {
        "/api/v1/health": _get("Liveness and a summary", _ref("Health")),
        "/api/v1/snapshot": _get("Everything at once (the JSON dump)", _ref("DaemonSnapshot")),
        "/api/v1/instances": _get("VRRP instances", _list_of("instances", "InstanceView")),
        "/api/v1/instances/{name}": _get(
            "One VRRP instance", _ref("InstanceView"), parameters=[NAME]
        ),
        "/api/v1/instances/{name}/release-master": _post(
            "Give up mastership: a priority 0 advert (the backup takes over at once), then held "
            "BACKUP, without preempting back, until reclaim-master or hold_s seconds. 409 when "
            "the instance is not MASTER",
            "ReleaseMaster",
            optional=True,
            parameters=[NAME],
        ),
        "/api/v1/instances/{name}/reclaim-master": _post(
            "Lift the release-master hold: the instance is back in the election (with preempt "
            "it takes mastership back within a Master_Down_Interval). 409 when it is not held",
            None,
            parameters=[NAME],
        ),
        "/api/v1/sync-groups": _get("VRRP sync groups", _list_of("sync_groups", "SyncGroupView")),
        "/api/v1/virtual-servers": _get(
            "Virtual servers with their real servers",
            _list_of("virtual_servers", "VirtualServerView"),
        ),
        "/api/v1/real-servers/drain": _post("Drain: weight 0, kept in the table", "RealServerRef"),
        "/api/v1/real-servers/undrain": _post("Undrain: back to its weight", "RealServerRef"),
        "/api/v1/real-servers/weight": _post("Set a real server's weight", "RealServerWeight"),
        "/api/v1/reload": _post("Reload the configuration (as SIGHUP)", None),
        "/api/v1/events": _get(
            "Recent events, oldest first",
            _list_of("events", "Event"),
            parameters=[
                {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 0}},
                {
                    "name": "since",
                    "in": "query",
                    "schema": {"type": "number"},
                    "description": "only events after this Unix time",
                },
            ],
        ),
        "/api/v1/openapi.json": _get("This document", {"type": "object"}),
    }


def _api_schemas() -> dict[str, JsonObject]:
    rs = {
        "virtual_server": {"type": "string", "description": "VirtualServerView.id"},
        "address": {"type": "string"},
        "port": {"type": "integer", "minimum": 0, "maximum": 65535},
    }
    weight = {"type": "integer", "minimum": 0, "maximum": MAX_WEIGHT}
    return {
        "RealServerRef": {"type": "object", "properties": rs, "required": list(rs),
                          "additionalProperties": False},
        "RealServerWeight": {"type": "object", "properties": {**rs, "weight": weight},
                             "required": [*rs, "weight"], "additionalProperties": False},
        "ReleaseMaster": {"type": "object", "additionalProperties": False, "properties": {
            "hold_s": {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_HOLD_S,
                       "description": "lift the hold by itself after this many seconds"}}},
        "CommandOk": {"type": "object", "required": ["ok", "message"],
                      "properties": {"ok": {"const": True}, "message": {"type": "string"}}},
        "Error": {"type": "object", "required": ["error"],
                  "properties": {"error": {"type": "string"}, "ok": {"const": False}}},
        "Health": {
            "type": "object",
            "required": ["status", "version", "uptime_s", "backend", "instances",
                         "virtual_servers", "mutations_enabled"],
            "properties": {
                "status": {"const": "ok"}, "version": {"type": "string"},
                "uptime_s": {"type": "number"}, "backend": {"type": "string"},
                "instances": {"type": "integer"}, "virtual_servers": {"type": "integer"},
                "mutations_enabled": {"type": "boolean"},
            },
        },
    }  # fmt: skip


def build_openapi() -> JsonObject:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "pykeepalived API",
            "version": __version__,
            "description": "Read the daemon's state; drain real servers, release mastership, "
            "reload. Mutating endpoints need 'Authorization: Bearer <token>' (the token file "
            "named by api_token_file); without a token file they answer 403.",
        },
        "paths": _paths(),
        "components": {
            "schemas": {**schemas(), **_api_schemas()},
            "responses": {
                "Error": {
                    "description": "The request was refused; 'error' says why",
                    "content": {"application/json": {"schema": _ref("Error")}},
                }
            },
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def render() -> str:
    return json.dumps(build_openapi(), indent=2, sort_keys=True) + "\n"
