"""The HTTP layer against a fake daemon: routes, auth, error messages, OpenAPI conformance."""

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from openapi_spec_validator import validate
from tests.api.conftest import TOKEN, api_client, auth
from tests.api.fakes import VS_ID, FakeDaemon

from pykeepalived.api.openapi import build_openapi, render
from pykeepalived.state import CommandKind, CommandResult

ROOT = Path(__file__).resolve().parents[2]
RS1 = {"virtual_server": VS_ID, "address": "192.168.88.10", "port": 80}


def response_validator(path: str, method: str = "get", status: str = "200") -> Any:
    doc = build_openapi()
    op = doc["paths"][path][method]
    response = op["responses"][status]
    if "$ref" in response:
        response = doc["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    schema = response["content"]["application/json"]["schema"]
    return jsonschema.Draft202012Validator({**schema, "components": doc["components"]})


def rs_of(daemon: FakeDaemon, address: str) -> Any:
    (vs,) = daemon.snap.virtual_servers
    return next(rs for rs in vs.real_servers if rs.address == address)


def test_openapi_document_is_valid_and_the_checked_in_copy_is_current() -> None:
    validate(build_openapi())
    checked_in = (ROOT / "docs" / "api" / "openapi.json").read_text()
    assert checked_in == render(), "regenerate it: see pykeepalived.api.openapi's docstring"


READS = [
    "/api/v1/health",
    "/api/v1/snapshot",
    "/api/v1/instances",
    "/api/v1/instances/{name}",
    "/api/v1/sync-groups",
    "/api/v1/virtual-servers",
    "/api/v1/events",
    "/api/v1/openapi.json",
]


def test_every_read_endpoint_answers_what_the_document_says() -> None:
    async def body() -> None:
        async with api_client(FakeDaemon()) as client:
            for path in READS:
                resp = await client.get(path.replace("{name}", "VI_1"))
                assert resp.status == 200, path
                assert resp.headers["Content-Type"].startswith("application/json")
                response_validator(path).validate(await resp.json())

    asyncio.run(body())


def test_read_endpoints_report_the_snapshot_values() -> None:
    async def body() -> None:
        async with api_client(FakeDaemon()) as client:
            vi = await (await client.get("/api/v1/instances/VI_1")).json()
            assert (vi["state"], vi["priority"], vi["master_ip"]) == ("MASTER", 100, "192.168.88.8")
            assert [t["new"] for t in vi["transitions"]] == ["BACKUP", "MASTER"]
            vss = (await (await client.get("/api/v1/virtual-servers")).json())["virtual_servers"]
            assert [rs["address"] for rs in vss[0]["real_servers"]] == [
                "192.168.88.10",
                "192.168.88.11",
            ]
            assert vss[0]["real_servers"][1]["probes"][0]["latency_s"] == 0.3
            snap = await (await client.get("/api/v1/snapshot")).json()
            assert snap["packet_errors"] == [{"reason": "bad ttl", "count": 2}]
            health = await (await client.get("/api/v1/health")).json()
            assert health["mutations_enabled"] is False
            assert health["instances"] == 1

    asyncio.run(body())


def test_events_limit_and_since() -> None:
    async def body() -> None:
        daemon = FakeDaemon()
        async with api_client(daemon) as client:
            events = (await (await client.get("/api/v1/events?limit=2")).json())["events"]
            assert [e["message"] for e in events] == ["event 3", "event 4"]
            since = daemon.snap.events[2].at
            events = (await (await client.get(f"/api/v1/events?since={since}")).json())["events"]
            assert [e["message"] for e in events] == ["event 3", "event 4"]
            for bad in ("limit=x", "limit=-1", "since=nan", "since=abc"):
                resp = await client.get(f"/api/v1/events?{bad}")
                assert resp.status == 400, bad
                assert "error" in await resp.json()

    asyncio.run(body())


MUTATIONS: list[tuple[str, dict[str, Any]]] = [
    ("/api/v1/real-servers/drain", RS1),
    ("/api/v1/real-servers/undrain", RS1),
    ("/api/v1/real-servers/weight", {**RS1, "weight": 5}),
    ("/api/v1/instances/VI_1/release-master", {}),
    ("/api/v1/instances/VI_1/reclaim-master", {}),
    ("/api/v1/reload", {}),
]


def test_without_a_token_file_mutations_are_403_with_a_clear_message() -> None:
    async def body() -> None:
        daemon = FakeDaemon()
        before = daemon.snap
        async with api_client(daemon) as client:
            for path, payload in MUTATIONS:
                resp = await client.post(path, json=payload, headers=auth())
                assert resp.status == 403, path
                assert "no API token file" in (await resp.json())["error"]
        assert daemon.commands == []
        assert daemon.snap is before

    asyncio.run(body())


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"Bearer {TOKEN[:-1]}"},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer \u00e9t\u00e9"},
    ],
)
def test_missing_or_wrong_token_is_401_and_changes_nothing(
    headers: dict[str, str], token_file: str
) -> None:
    async def body() -> None:
        daemon = FakeDaemon()
        before = daemon.snap
        async with api_client(daemon, token_file) as client:
            for path, payload in MUTATIONS:
                resp = await client.post(path, json=payload, headers=headers)
                assert resp.status == 401, path
                assert "Bearer" in (await resp.json())["error"]
        assert daemon.commands == []
        assert daemon.snap is before

    asyncio.run(body())


def test_drain_undrain_and_weight_change_the_state_and_are_logged(
    token_file: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def body() -> None:
        daemon = FakeDaemon()
        async with api_client(daemon, token_file) as client:
            ok = response_validator("/api/v1/real-servers/drain", "post")
            resp = await client.post("/api/v1/real-servers/drain", json=RS1, headers=auth())
            assert resp.status == 200
            ok.validate(await resp.json())
            assert (
                rs_of(daemon, "192.168.88.10").weight,
                rs_of(daemon, "192.168.88.10").drained,
            ) == (0, True)
            assert rs_of(daemon, "192.168.88.11").weight == 1
            resp = await client.post("/api/v1/real-servers/undrain", json=RS1, headers=auth())
            assert resp.status == 200
            assert rs_of(daemon, "192.168.88.10").weight == 1
            weight = {**RS1, "weight": 7}
            resp = await client.post("/api/v1/real-servers/weight", json=weight, headers=auth())
            assert resp.status == 200
            assert rs_of(daemon, "192.168.88.10").weight == 7
            for path in ("/api/v1/instances/VI_1/release-master", "/api/v1/reload"):
                assert (await client.post(path, headers=auth())).status == 200
        kinds = [c.kind for c in daemon.commands]
        assert kinds == [
            CommandKind.DRAIN,
            CommandKind.UNDRAIN,
            CommandKind.SET_WEIGHT,
            CommandKind.RELEASE_MASTER,
            CommandKind.RELOAD,
        ]
        assert daemon.commands[2].weight == 7
        assert daemon.commands[3].instance == "VI_1"

    with caplog.at_level(logging.INFO, logger="pykeepalived.api"):
        asyncio.run(body())
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "api: drain 192.168.88.10:80 in 192.168.88.100:80/TCP from 127.0.0.1 -> ok" in logged
    assert "api: set-weight 192.168.88.10:80 in 192.168.88.100:80/TCP weight 7" in logged
    assert "api: release-master VI_1 from 127.0.0.1 -> ok" in logged
    assert "api: reload from 127.0.0.1 -> ok" in logged


BAD_BODIES: list[tuple[str, bytes, int, str]] = [
    ("drain", b"{", 400, "not valid JSON"),
    ("drain", b"[1, 2]", 400, "must be a JSON object, not list"),
    ("drain", b'"x"', 400, "must be a JSON object, not str"),
    ("drain", b"\xff\xfe{}", 400, "not UTF-8"),
    ("drain", b"{}", 400, "missing field 'virtual_server'"),
    ("drain", json.dumps({**RS1, "port": "80"}).encode(), 400, "field 'port' must be a int"),
    ("drain", json.dumps({**RS1, "port": True}).encode(), 400, "field 'port' must be a int"),
    ("drain", json.dumps({**RS1, "port": 70000}).encode(), 400, "port 70000 is out of range"),
    ("drain", json.dumps({**RS1, "extra": 1}).encode(), 400, "unknown field(s) extra"),
    (
        "drain",
        json.dumps({**RS1, "address": "10.9.9.9"}).encode(),
        404,
        "no real server 10.9.9.9:80 in 192.168.88.100:80/TCP (it has: 192.168.88.10:80, ",
    ),
    (
        "undrain",
        json.dumps({**RS1, "virtual_server": "nope"}).encode(),
        404,
        "no virtual server 'nope' (known: 192.168.88.100:80/TCP)",
    ),
    ("weight", json.dumps(RS1).encode(), 400, "missing field 'weight'"),
    ("weight", json.dumps({**RS1, "weight": -1}).encode(), 400, "weight -1 is out of range"),
    ("weight", json.dumps({**RS1, "weight": 1.5}).encode(), 400, "'weight' must be a int"),
    ("weight", json.dumps({**RS1, "weight": 65536}).encode(), 400, "out of range 0..65535"),
    ("weight", b"[" * 100_000, 413, "Request Entity Too Large"),
]


@pytest.mark.parametrize(("action", "raw", "status", "message"), BAD_BODIES)
def test_bad_bodies_and_unknown_servers_get_4xx_with_a_clear_message(
    action: str, raw: bytes, status: int, message: str, token_file: str
) -> None:
    async def body() -> None:
        daemon = FakeDaemon()
        async with api_client(daemon, token_file) as client:
            resp = await client.post(f"/api/v1/real-servers/{action}", data=raw, headers=auth())
            assert resp.status == status
            assert message in (await resp.json())["error"]
        assert daemon.commands == []

    asyncio.run(body())


def test_unknown_instance_route_and_method_get_json_4xx(token_file: str) -> None:
    async def body() -> None:
        async with api_client(FakeDaemon(), token_file) as client:
            resp = await client.post("/api/v1/instances/VI_9/release-master", headers=auth())
            assert (resp.status, (await resp.json())["error"]) == (
                404,
                "no vrrp_instance 'VI_9' (known: VI_1)",
            )
            resp = await client.get("/api/v1/instances/VI_9")
            assert resp.status == 404
            resp = await client.get("/api/v1/nothing")
            assert (resp.status, (await resp.json())["error"]) == (
                404,
                "no such resource: /api/v1/nothing",
            )
            resp = await client.get("/api/v1/real-servers/drain")
            assert resp.status == 405
            assert "method GET is not allowed" in (await resp.json())["error"]
            resp = await client.post("/api/v1/reload", data=b'{"now": 1}', headers=auth())
            assert resp.status == 400

    asyncio.run(body())


class RefusingDaemon(FakeDaemon):
    async def submit(self, command: Any) -> CommandResult:
        self.commands.append(command)
        return CommandResult(ok=False, message="reload already running")


def test_a_command_the_daemon_refuses_is_409_with_its_message(token_file: str) -> None:
    async def body() -> None:
        async with api_client(RefusingDaemon(), token_file) as client:
            resp = await client.post("/api/v1/reload", headers=auth())
            assert resp.status == 409
            assert (await resp.json()) == {"ok": False, "error": "reload already running"}

    asyncio.run(body())


def test_dashboard_files_are_served_and_nothing_else() -> None:
    async def body() -> None:
        async with api_client(FakeDaemon()) as client:
            page = await client.get("/")
            assert page.status == 200
            assert page.headers["Content-Type"].startswith("text/html")
            assert "pykeepalived" in await page.text()
            assert "default-src 'self'" in page.headers["Content-Security-Policy"]
            for name in ("app.js", "style.css"):
                assert (await client.get(f"/static/{name}")).status == 200
            for bad in ("/static/..%2Fhttp.py", "/static/http.py", "/static/app.js%00"):
                assert (await client.get(bad)).status == 404, bad

    asyncio.run(body())


def test_refused_mutations_are_logged_at_a_limited_rate(
    token_file: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def body() -> None:
        async with api_client(FakeDaemon(), token_file) as client:
            for n in range(30):
                headers = auth(f"guess-{n}")
                resp = await client.post("/api/v1/reload", headers=headers)
                assert resp.status == 401

    with caplog.at_level(logging.INFO):
        asyncio.run(body())
    refused = [r for r in caplog.records if r.name == "pykeepalived.api.auth"]
    assert len(refused) <= 1


def _record(exc: BaseException) -> logging.LogRecord:
    try:
        raise exc
    except BaseException:
        import sys

        info = sys.exc_info()
    return logging.LogRecord("x", logging.ERROR, __file__, 1, "Error handling request", (), info)


def test_malformed_requests_are_quiet_but_a_bug_in_a_handler_stays_loud() -> None:
    from aiohttp.http_exceptions import BadHttpMessage

    from pykeepalived.api.http import _RateLimited

    quiet = _RateLimited(every_s=60)
    bad = _record(BadHttpMessage("Invalid header token"))
    assert quiet.filter(bad)
    assert (bad.levelno, bad.exc_info) == (logging.WARNING, None)
    assert "BadHttpMessage" in bad.getMessage()
    assert not quiet.filter(_record(BadHttpMessage("again")))  # within the minute: dropped
    bug = _record(RuntimeError("bug in the snapshot"))
    assert quiet.filter(bug)
    assert bug.levelno == logging.ERROR
    assert bug.exc_info is not None


def test_beyond_loopback_reads_need_the_token_too(token_file: str) -> None:
    from tests.api.conftest import api_client_with

    from pykeepalived.api.settings import ApiSettings

    async def body() -> None:
        wide = ApiSettings(host="0.0.0.0", port=0, token_file=token_file)
        async with api_client_with(FakeDaemon(), wide) as client:
            for path in ("/api/v1/health", "/api/v1/snapshot", "/metrics", "/api/v1/events"):
                assert (await client.get(path)).status == 401, path
                assert (await client.get(path, headers=auth("nope"))).status == 401, path
                assert (await client.get(path, headers=auth())).status == 200, path
            for path in ("/", "/static/app.js", "/api/v1/openapi.json"):
                assert (await client.get(path)).status == 200, path
            drain = {"virtual_server": VS_ID, "address": "192.168.88.10", "port": 80}
            resp = await client.post("/api/v1/real-servers/drain", json=drain, headers=auth())
            assert resp.status == 200
        untokened = ApiSettings(host="::", port=0)
        async with api_client_with(FakeDaemon(), untokened) as client:
            resp = await client.get("/api/v1/health")
            assert resp.status == 403
            assert "beyond loopback" in (await resp.json())["error"]

    asyncio.run(body())


def test_release_then_reclaim_master_hold_and_lift_and_say_why_when_refused(
    token_file: str, caplog: pytest.LogCaptureFixture
) -> None:
    release, reclaim = (
        "/api/v1/instances/VI_1/release-master",
        "/api/v1/instances/VI_1/reclaim-master",
    )

    async def body() -> FakeDaemon:
        daemon = FakeDaemon()
        async with api_client(daemon, token_file) as client:
            resp = await client.post(reclaim, headers=auth())
            assert resp.status == 409
            assert "not held" in (await resp.json())["error"]
            resp = await client.post(release, json={"hold_s": 600}, headers=auth())
            assert resp.status == 200, await resp.text()
            validator = response_validator("/api/v1/instances/{name}/release-master", "post")
            validator.validate(await resp.json())
            view = await (await client.get("/api/v1/instances/VI_1")).json()
            assert (view["state"], view["held"], view["held_by"]) == ("BACKUP", True, "api")
            resp = await client.post(release, headers=auth())
            assert (resp.status, (await resp.json())["error"]) == (
                409,
                "(VI_1) is BACKUP, not MASTER",
            )
            resp = await client.post(reclaim, headers=auth())
            assert resp.status == 200
            view = await (await client.get("/api/v1/instances/VI_1")).json()
            assert view["held"] is False
        return daemon

    with caplog.at_level(logging.INFO, logger="pykeepalived.api"):
        daemon = asyncio.run(body())
    kinds = [(c.kind, c.instance, c.hold_s) for c in daemon.commands]
    assert kinds == [
        (CommandKind.RECLAIM_MASTER, "VI_1", None),
        (CommandKind.RELEASE_MASTER, "VI_1", 600.0),
        (CommandKind.RELEASE_MASTER, "VI_1", None),
        (CommandKind.RECLAIM_MASTER, "VI_1", None),
    ]
    assert all(c.client == "127.0.0.1" for c in daemon.commands)
    assert "api: release-master VI_1 for 600 s from 127.0.0.1 -> ok" in caplog.text


@pytest.mark.parametrize(
    ("path", "raw", "status", "message"),
    [
        ("release-master", b'{"hold_s": 0}', 400, "hold_s 0 is out of range (0, 604800]"),
        ("release-master", b'{"hold_s": -1}', 400, "out of range"),
        ("release-master", b'{"hold_s": NaN}', 400, "out of range"),
        ("release-master", b'{"hold_s": 1e999}', 400, "out of range"),
        ("release-master", b'{"hold_s": 604801}', 400, "out of range"),
        ("release-master", b'{"hold_s": true}', 400, "'hold_s' must be a number of seconds"),
        ("release-master", b'{"hold_s": "60"}', 400, "'hold_s' must be a number of seconds"),
        ("release-master", b'{"for": 60}', 400, "unknown field(s) for; expected only hold_s"),
        ("release-master", b"[]", 400, "must be a JSON object"),
        ("reclaim-master", b'{"hold_s": 60}', 400, "expected an empty body"),
        ("reclaim-master", b"{", 400, "not valid JSON"),
    ],
)
def test_bad_release_and_reclaim_bodies_get_400_and_change_nothing(
    path: str, raw: bytes, status: int, message: str, token_file: str
) -> None:
    async def body() -> None:
        daemon = FakeDaemon()
        async with api_client(daemon, token_file) as client:
            resp = await client.post(f"/api/v1/instances/VI_1/{path}", data=raw, headers=auth())
            assert resp.status == status
            assert message in (await resp.json())["error"]
            resp = await client.post(f"/api/v1/instances/VI_9/{path}", headers=auth())
            assert (resp.status, (await resp.json())["error"]) == (
                404,
                "no vrrp_instance 'VI_9' (known: VI_1)",
            )
        assert daemon.commands == []

    asyncio.run(body())
