"""Observability and control (L5): JSON API, Prometheus metrics, the dashboard, ``status``.

Reads ``pykeepalived.state`` snapshots only; every change goes through ``Daemon.submit``.
The daemon starts the server with ``await serve_api(daemon, settings, stop_event)``.

The HTTP side (aiohttp) is imported on first use, not with the package: the daemon imports
``pykeepalived.api.companion`` at start, and aiohttp must not delay VRRP and the data plane
(under the IPVS VM's emulation, importing it takes about 3 s).
"""

from typing import TYPE_CHECKING, Any

from pykeepalived.api.settings import ApiSettings, ApiSettingsError, parse_listen

if TYPE_CHECKING:
    from pykeepalived.api.http import DaemonControl, serve_api, start_api

__all__ = [
    "ApiSettings",
    "ApiSettingsError",
    "DaemonControl",
    "parse_listen",
    "serve_api",
    "start_api",
]


def __getattr__(name: str) -> Any:
    if name in ("DaemonControl", "serve_api", "start_api"):
        from pykeepalived.api import http

        return getattr(http, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
