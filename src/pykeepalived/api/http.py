"""The daemon's HTTP server: JSON API under /api/v1, Prometheus /metrics, the dashboard at /.

Rules: L5. Reads ``DaemonSnapshot`` values only (``daemon.snapshot()``) and changes nothing
itself: every change is a ``Command`` handed to ``daemon.submit``. Mutating endpoints need
``Authorization: Bearer <token>`` matching the token file (read on each request, so a rotated
token takes effect at once); no token file configured = mutations disabled (403).

Why aiohttp rather than an own HTTP/1.1 server on asyncio streams: the API faces untrusted
input, and aiohttp's request parser (llhttp) is fuzzed and maintained by others, with limits on
line, header and body sizes; it also brings a test server. An own parser would be small but
would need the same hardening and tests that llhttp already has.
"""

import asyncio
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from importlib import resources
from typing import Any, Protocol

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.typedefs import Middleware
from prometheus_client.exposition import choose_encoder

from pykeepalived.api import commands
from pykeepalived.api.metrics import registry_for
from pykeepalived.api.openapi import build_openapi
from pykeepalived.api.settings import ApiSettings
from pykeepalived.api.views import to_json
from pykeepalived.state import Command, CommandKind, CommandResult, DaemonSnapshot

log = logging.getLogger("pykeepalived.api")

MAX_BODY = 64 * 1024
SUBMIT_TIMEOUT_S = 30.0
STATIC = {
    "index.html": "text/html",
    "app.js": "text/javascript",
    "style.css": "text/css",
}
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'",
    "Cache-Control": "no-store",
}


class _RateLimited(logging.Filter):
    """aiohttp logs each malformed request with a traceback at ERROR: anyone who can reach the
    port could fill the log. Keep one line per ``every_s``, with the count of those dropped.
    Records of other exceptions (a bug in a handler: a 500) pass unchanged."""

    def __init__(self, every_s: float = 60.0) -> None:
        super().__init__()
        self.every_s = every_s
        self.next_at = 0.0
        self.dropped = 0

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None and not isinstance(exc, HttpProcessingError):
            return True  # an exception in our own handler is a bug: keep it loud, traceback and all
        now = time.monotonic()
        if now < self.next_at:
            self.dropped += 1
            return False
        self.next_at = now + self.every_s
        detail = f": {type(exc).__name__}: {str(exc).splitlines()[0]}" if exc else ""
        also = f" ({self.dropped} more since the last report)" if self.dropped else ""
        record.msg, record.args, record.exc_info, record.exc_text = (
            f"{record.getMessage()}{detail}{also}",
            None,
            None,
            None,
        )
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        self.dropped = 0
        return True


protocol_log = logging.getLogger("pykeepalived.api.protocol")
protocol_log.addFilter(_RateLimited())
# Refused mutations (no or wrong token): one line per 10 s with the count, so guessing tokens
# cannot flood the log. Accepted mutations are always logged, on ``log``.
auth_log = logging.getLogger("pykeepalived.api.auth")
auth_log.addFilter(_RateLimited(every_s=10.0))


class DaemonControl(Protocol):
    """What the API needs of the daemon: a snapshot now, and a command queue."""

    def snapshot(self) -> DaemonSnapshot: ...

    async def submit(self, command: Command) -> CommandResult: ...


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=SECURITY_HEADERS)


@web.middleware
async def _json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """aiohttp's own 404/405/413 become JSON errors like ours; headers on every answer."""
    try:
        response = await handler(request)
    except commands.ApiInputError as exc:
        return _error(exc.status, exc.message)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        message = exc.reason
        if exc.status == 405:
            message = f"method {request.method} is not allowed on {request.path}"
        elif exc.status == 404:
            message = f"no such resource: {request.path}"
        return _error(exc.status, message)
    response.headers.update(SECURITY_HEADERS)
    return response


@dataclass
class Api:
    daemon: DaemonControl
    settings: ApiSettings

    def snap(self) -> DaemonSnapshot:
        return self.daemon.snapshot()

    # -- read-only ---------------------------------------------------------------------------

    async def health(self, request: web.Request) -> web.Response:
        snap = self.snap()
        return web.json_response(
            {
                "status": "ok",
                "version": snap.version,
                "uptime_s": round(max(0.0, time.time() - snap.started_at), 3),
                "backend": snap.backend,
                "instances": len(snap.instances),
                "virtual_servers": len(snap.virtual_servers),
                "mutations_enabled": self.settings.token_file is not None,
            }
        )

    async def snapshot(self, request: web.Request) -> web.Response:
        return web.json_response(to_json(self.snap()))

    async def instances(self, request: web.Request) -> web.Response:
        return web.json_response({"instances": to_json(self.snap().instances)})

    async def instance(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        for view in self.snap().instances:
            if view.name == name:
                return web.json_response(to_json(view))
        raise commands.NotFound(f"no vrrp_instance {name!r}")

    async def sync_groups(self, request: web.Request) -> web.Response:
        return web.json_response({"sync_groups": to_json(self.snap().sync_groups)})

    async def virtual_servers(self, request: web.Request) -> web.Response:
        return web.json_response({"virtual_servers": to_json(self.snap().virtual_servers)})

    async def events(self, request: web.Request) -> web.Response:
        limit = _query_number(request, "limit", int, self.settings.events_limit)
        since = _query_number(request, "since", float, 0.0)
        if limit < 0:
            raise commands.BadRequest("'limit' must be >= 0")
        picked = [e for e in self.snap().events if e.at > since]
        picked = picked[len(picked) - limit :] if limit else []
        return web.json_response({"events": to_json(tuple(picked))})

    async def openapi(self, request: web.Request) -> web.Response:
        return web.json_response(build_openapi())

    async def metrics(self, request: web.Request) -> web.Response:
        """Text format 0.0.4 by default; OpenMetrics when the scraper asks for it."""
        encode, content_type = choose_encoder(request.headers.get("Accept", ""))
        response = web.Response(body=encode(registry_for(self.snap)))
        response.headers["Content-Type"] = content_type
        return response

    # -- mutating ----------------------------------------------------------------------------

    async def drain(self, request: web.Request) -> web.Response:
        return await self._real_server(request, CommandKind.DRAIN)

    async def undrain(self, request: web.Request) -> web.Response:
        return await self._real_server(request, CommandKind.UNDRAIN)

    async def set_weight(self, request: web.Request) -> web.Response:
        return await self._real_server(request, CommandKind.SET_WEIGHT)

    async def _real_server(self, request: web.Request, kind: CommandKind) -> web.Response:
        raw = await self._authorized_body(request)
        return await self._submit(request, commands.real_server_command(kind, raw, self.snap()))

    async def release_master(self, request: web.Request) -> web.Response:
        return await self._instance(request, CommandKind.RELEASE_MASTER)

    async def reclaim_master(self, request: web.Request) -> web.Response:
        return await self._instance(request, CommandKind.RECLAIM_MASTER)

    async def _instance(self, request: web.Request, kind: CommandKind) -> web.Response:
        raw = await self._authorized_body(request)
        name = request.match_info["name"]
        command = commands.instance_command(kind, name, raw, self.snap())
        return await self._submit(request, replace(command, client=request.remote or ""))

    async def reload(self, request: web.Request) -> web.Response:
        raw = await self._authorized_body(request)
        return await self._submit(request, commands.reload_command(raw))

    async def _authorized_body(self, request: web.Request) -> bytes:
        """401/403 before the body is even read; then the body, bounded."""
        self.authorize(request, "mutating endpoints are disabled")
        return await request.read()

    def authorize(self, request: web.Request, disabled: str) -> None:
        """Raise 403 when no usable token file is configured, 401 for a missing/wrong token."""
        who = request.remote or "?"
        if self.settings.token_file is None:
            auth_log.warning(
                "api: %s %s from %s refused: no token file", request.method, request.path, who
            )
            raise _Refused(
                403,
                f"{disabled}: no API token file is configured "
                "(api_token_file in global_defs, or --api-token-file)",
            )
        expected = _read_token(self.settings.token_file)
        if expected is None:
            log.error("api: token file %s is unreadable or empty", self.settings.token_file)
            raise _Refused(403, f"{disabled}: the API token file is unreadable or empty")
        given = request.headers.get("Authorization", "")
        scheme, _, token = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            token.strip().encode(errors="replace"), expected
        ):
            auth_log.warning(
                "api: %s %s from %s refused: %s",
                request.method,
                request.path,
                who,
                "wrong token" if given else "no token",
            )
            raise _Refused(401, "a valid 'Authorization: Bearer <token>' header is required")

    async def _submit(self, request: web.Request, command: Command) -> web.Response:
        who = request.remote or "?"
        try:
            async with asyncio.timeout(SUBMIT_TIMEOUT_S):
                result = await self.daemon.submit(command)
        except TimeoutError:
            log.error("api: %s from %s: the daemon did not answer", _describe(command), who)
            return _error(503, f"the daemon did not answer within {SUBMIT_TIMEOUT_S:.0f} s")
        log.info(
            "api: %s from %s -> %s: %s",
            _describe(command),
            who,
            "ok" if result.ok else "refused",
            result.message,
        )
        if result.ok:
            return web.json_response({"ok": True, "message": result.message})
        status = 404 if result.not_found else 409
        return web.json_response({"ok": False, "error": result.message}, status=status)

    # -- dashboard ---------------------------------------------------------------------------

    async def static(self, request: web.Request) -> web.Response:
        name = request.match_info.get("name", "index.html")
        if name not in STATIC:
            raise commands.NotFound(f"no such file: {name}")
        body = (resources.files("pykeepalived.api") / "static" / name).read_bytes()
        return web.Response(body=body, content_type=STATIC[name], charset="utf-8")


class _Refused(commands.ApiInputError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _read_token(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            token = f.read(4096).strip()
    except OSError:
        return None
    return token or None


def _query_number(request: web.Request, name: str, kind: type[Any], default: Any) -> Any:
    text = request.query.get(name)
    if text is None:
        return default
    try:
        value = kind(text)
    except ValueError:
        raise commands.BadRequest(f"query parameter '{name}' must be a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise commands.BadRequest(f"query parameter '{name}' must be finite")
    return value


def _describe(command: Command) -> str:
    target = command.instance or (
        f"{command.address}:{command.port} in {command.virtual_server}" if command.address else ""
    )
    weight = f" weight {command.weight}" if command.weight is not None else ""
    hold = f" for {command.hold_s:g} s" if command.hold_s is not None else ""
    return f"{command.kind.value} {target}{weight}{hold}".strip()


OPEN_PATHS = frozenset({"/", "/api/v1/openapi.json"})


def _read_gate(api: "Api") -> Middleware:
    """Listening beyond loopback, reading the state (API, /metrics) needs the token too; the
    dashboard's files and the OpenAPI document stay open (they hold no state)."""

    @web.middleware
    async def gate(request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if not (path in OPEN_PATHS or path.startswith("/static/") or request.method == "POST"):
            api.authorize(
                request,
                f"reading is disabled: the API listens on {api.settings.host}, beyond loopback",
            )
        return await handler(request)

    return gate


def make_app(daemon: DaemonControl, settings: ApiSettings) -> web.Application:
    api = Api(daemon=daemon, settings=settings)
    middlewares: list[Middleware] = [_json_errors]
    if not settings.loopback:
        middlewares.append(_read_gate(api))
    app = web.Application(middlewares=middlewares, client_max_size=MAX_BODY)
    app[API_KEY] = api
    v1 = "/api/v1"
    app.router.add_get(f"{v1}/health", api.health)
    app.router.add_get(f"{v1}/snapshot", api.snapshot)
    app.router.add_get(f"{v1}/instances", api.instances)
    app.router.add_get(f"{v1}/instances/{{name}}", api.instance)
    app.router.add_post(f"{v1}/instances/{{name}}/release-master", api.release_master)
    app.router.add_post(f"{v1}/instances/{{name}}/reclaim-master", api.reclaim_master)
    app.router.add_get(f"{v1}/sync-groups", api.sync_groups)
    app.router.add_get(f"{v1}/virtual-servers", api.virtual_servers)
    app.router.add_post(f"{v1}/real-servers/drain", api.drain)
    app.router.add_post(f"{v1}/real-servers/undrain", api.undrain)
    app.router.add_post(f"{v1}/real-servers/weight", api.set_weight)
    app.router.add_post(f"{v1}/reload", api.reload)
    app.router.add_get(f"{v1}/events", api.events)
    app.router.add_get(f"{v1}/openapi.json", api.openapi)
    app.router.add_get("/metrics", api.metrics)
    app.router.add_get("/", api.static)
    app.router.add_get("/static/{name}", api.static)
    return app


API_KEY = web.AppKey("api", Api)


async def start_api(daemon: DaemonControl, settings: ApiSettings) -> tuple[web.AppRunner, int]:
    """Start listening; returns the runner (``await runner.cleanup()`` stops) and the port."""
    app = make_app(daemon, settings)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, logger=protocol_log)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port, reuse_address=True)
    await site.start()
    return runner, int(runner.addresses[0][1])


async def serve_api(daemon: DaemonControl, settings: ApiSettings, stop: asyncio.Event) -> None:
    """Run the API until ``stop`` is set. The daemon starts this when ``--api`` is given."""
    runner, port = await start_api(daemon, settings)
    mutations = "enabled" if settings.token_file else "disabled (no api_token_file)"
    reads = "open" if settings.loopback else "need the token (not loopback)"
    log.info(
        "API listening on %s:%d (reads %s, mutations %s)", settings.host, port, reads, mutations
    )
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        log.info("API stopped")


def dump_snapshot(snap: DaemonSnapshot) -> str:
    """The snapshot as the JSON the API serves (``pykeepalived status --file`` reads it)."""
    return json.dumps(to_json(snap), indent=2, sort_keys=True) + "\n"
