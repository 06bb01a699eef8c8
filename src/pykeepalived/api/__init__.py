"""Observability and control (L5): JSON API, Prometheus metrics, the dashboard, ``status``.

Reads ``pykeepalived.state`` snapshots only; every change goes through ``Daemon.submit``.
The daemon starts the server with ``await serve_api(daemon, settings, stop_event)``.
"""

from pykeepalived.api.http import DaemonControl, serve_api, start_api
from pykeepalived.api.settings import ApiSettings, ApiSettingsError, parse_listen

__all__ = [
    "ApiSettings",
    "ApiSettingsError",
    "DaemonControl",
    "parse_listen",
    "serve_api",
    "start_api",
]
