"""Starting the API next to the daemon: ``--api`` / ``--api-token-file`` on the command line,
else ``api_listen`` / ``api_token_file`` in ``global_defs`` (pykeepalived extensions).

Rules: the composition root (``cli``) adds ``api_companion(...)`` to the daemon's companions;
the daemon runs it in its TaskGroup once the configuration is loaded. A bad listen spec or a
port already taken is logged and the daemon goes on without the API: VRRP and the data plane
matter more than the dashboard. For the same reason the HTTP side (aiohttp) is imported in a
worker thread once the daemon runs, not before: VRRP and the checkers start without waiting
for it (under the IPVS VM's emulation that import takes about 3 s).
"""

import asyncio
import importlib
import logging
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, Protocol

from pykeepalived.api.settings import ApiSettingsError, parse_listen
from pykeepalived.config.model import KeepalivedConfig

log = logging.getLogger("pykeepalived.api")

if TYPE_CHECKING:
    from pykeepalived.api.http import DaemonControl

    class ConfiguredDaemon(DaemonControl, Protocol):
        config: KeepalivedConfig | None

else:
    ConfiguredDaemon = Any  # the Protocol lives beside aiohttp, imported later


ApiCompanion = Callable[[ConfiguredDaemon, asyncio.Event], Coroutine[Any, Any, None]]


def api_companion(listen: str | None, token_file: str | None) -> ApiCompanion:
    async def run(daemon: ConfiguredDaemon, stop: asyncio.Event) -> None:
        g = daemon.config.global_defs if daemon.config is not None else None
        spec = listen or (g.api_listen if g else None)
        token = token_file or (g.api_token_file if g else None)
        if spec is None:
            return
        try:
            settings = parse_listen(spec, token)
        except ApiSettingsError as exc:
            log.error("API not started: %s", exc)
            return
        http = await asyncio.to_thread(importlib.import_module, "pykeepalived.api.http")
        try:
            await http.serve_api(daemon, settings, stop)
        except OSError as exc:
            log.error(
                "API not started: cannot listen on %s:%d: %s",
                settings.host,
                settings.port,
                exc.strerror or exc,
            )

    return run
