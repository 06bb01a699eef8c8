"""ExaBGP as our BGP engine, driven through its process API.

Rules: we write ExaBGP's config (``render``, pure) and start it as our child; its config names
one API process, ``exabgp_helper``, which ExaBGP starts as *its* child and which connects back
to a Unix socket of ours. Commands go down that socket as ExaBGP text-API lines and each is
answered ``done`` or ``error`` (ExaBGP's API acknowledgement). ExaBGP has no BFD: a crashed
director's path leaves the router after the hold time, a stopped one's at once (the session
closes). If ExaBGP exits on its own we start it again and announce what was announced.
"""

import asyncio
import contextlib
import logging
import shutil
import sys
from pathlib import Path

from pykeepalived.bgp.process import spawn, terminate
from pykeepalived.bgp.speaker import SpeakerError, state_dir
from pykeepalived.config.model_bgp import BgpSpeaker

log = logging.getLogger("pykeepalived.bgp")
ANSWER_TIMEOUT_S = 5.0
CONNECT_TIMEOUT_S = 20.0
RESTART_DELAY_S = 1.0
# ExaBGP runs as root with its API on the helper only (no named pipes for its own CLI).
ENV = {
    "exabgp_daemon_user": "root",
    "exabgp_daemon_drop": "false",
    "exabgp_api_cli": "false",
    "exabgp_api_ack": "true",
    "exabgp_log_destination": "stdout",
}


def render(config: BgpSpeaker, helper: list[str]) -> str:
    """ExaBGP's configuration: one API process, one neighbour block per peer."""
    run = " ".join(helper)
    lines = ["process pykeepalived {", f"    run {run};", "    encoder text;", "}", ""]
    for peer in config.neighbor:
        lines += [
            f"neighbor {peer.address} {{",
            f"    router-id {config.effective_router_id};",
            f"    local-as {config.local_as};",
            f"    peer-as {peer.peer_as};",
            f"    hold-time {config.hold_time};",
        ]
        if config.local_address is not None:
            lines.append(f"    local-address {config.local_address};")
        if peer.passive:
            lines.append("    passive true;")
        family = "ipv6" if peer.address.version == 6 else "ipv4"
        lines += [
            f"    family {{ {family} unicast; }}",
            "    api { processes [ pykeepalived ]; }",
            "}",
            "",
        ]
    return "\n".join(lines)


def command(verb: str, prefix: str) -> str:
    """The text-API line; the same attributes on every director (next hop self only)."""
    return f"{verb} route {prefix} next-hop self"


class ExabgpSpeaker:
    name = "exabgp"

    def __init__(self, config: BgpSpeaker) -> None:
        self.config = config
        self.dir = state_dir(config)
        self.announced: set[str] = set()
        self._proc: asyncio.subprocess.Process | None = None
        self._server: asyncio.Server | None = None
        self._link: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self._ready = asyncio.Event()
        self._lock = asyncio.Lock()
        self._stopping = False
        self._watch: asyncio.Task[None] | None = None

    def _program(self) -> str:
        path = self.config.speaker_path or shutil.which("exabgp")
        if path is None:
            beside = Path(sys.executable).with_name("exabgp")
            path = str(beside) if beside.exists() else None
        if path is None:
            raise SpeakerError("exabgp is not installed (pip install 'pykeepalived[bgp]')")
        return path

    async def start(self) -> None:
        program = self._program()
        sock = self.dir / "exabgp.sock"
        sock.unlink(missing_ok=True)
        self._server = await asyncio.start_unix_server(self._on_helper, path=str(sock))
        helper = [sys.executable, "-m", "pykeepalived.bgp.exabgp_helper", str(sock)]
        conf = self.dir / "exabgp.conf"
        conf.write_text(render(self.config, helper))
        self._argv = [program, "server", str(conf)]
        await self._launch()
        self._watch = asyncio.create_task(self._supervise(), name="exabgp-watch")

    async def _launch(self) -> None:
        self._proc = await spawn(self._argv, env=ENV, log_path=str(self.dir / "exabgp.log"))
        log.info("BGP: started ExaBGP (pid %d), log %s", self._proc.pid, self.dir / "exabgp.log")

    async def _supervise(self) -> None:
        while not self._stopping:
            assert self._proc is not None
            code = await self._proc.wait()
            if self._stopping:
                return
            self._ready.clear()
            self._link = None
            log.error("BGP: ExaBGP exited (%s); starting it again in %.0f s (see %s)",
                      code, RESTART_DELAY_S, self.dir / "exabgp.log")  # fmt: skip
            await asyncio.sleep(RESTART_DELAY_S)
            if not self._stopping:
                await self._launch()

    async def _on_helper(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async with self._lock:
            if self._link is not None:
                self._link[1].close()
            self._link = (reader, writer)
            log.info("BGP: ExaBGP's API helper connected")
            for prefix in sorted(self.announced):  # after a restart: what we had announced
                await self._send(command("announce", prefix))
            self._ready.set()

    async def announce(self, prefix: str) -> None:
        await self._command("announce", prefix)
        self.announced.add(prefix)

    async def withdraw(self, prefix: str) -> None:
        self.announced.discard(prefix)
        if self._link is None and not self._ready.is_set():
            return  # not connected: nothing was announced through this ExaBGP
        await self._command("withdraw", prefix)

    async def _command(self, verb: str, prefix: str) -> None:
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                await self._ready.wait()
        except TimeoutError:
            raise SpeakerError(f"ExaBGP's API is not connected (see {self.dir})") from None
        async with self._lock:
            await self._send(command(verb, prefix))

    async def _send(self, line: str) -> None:
        if self._link is None:
            raise SpeakerError("ExaBGP's API helper is gone")
        reader, writer = self._link
        writer.write(line.encode() + b"\n")
        try:
            async with asyncio.timeout(ANSWER_TIMEOUT_S):
                await writer.drain()
                answer = (await reader.readline()).decode().strip()
        except (TimeoutError, OSError) as exc:
            raise SpeakerError(f"ExaBGP did not answer {line!r}: {exc!r}") from None
        if answer != "done":
            raise SpeakerError(f"ExaBGP answered {answer or 'nothing'!r} to {line!r}")

    async def stop(self) -> None:
        """ExaBGP ends and its sessions close: the router drops our paths at once."""
        self._stopping = True
        self._ready.clear()
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        if self._proc is not None:
            await terminate(self._proc)
        if self._link is not None:
            self._link[1].close()
        if self._server is not None:
            self._server.close()
        self.announced.clear()
