"""TCP_CHECK: the port accepts a connection.

Rules: connect, then close at once (keepalived sends nothing). No options of its own.
``LeanTcp`` is the probe in callback form (a runner ``Starter``, as ``http_lean.LeanHttp``):
a non-blocking connect whose outcome is looked at in the next reply batch, and only a
connection still in progress registers with the selector. ``probe`` is the same exchange as
a coroutine. The close is an ordinary one (FIN), as keepalived's: the server's application
is waiting to read, so a reset would reach it as an error (HTTP's lean path resets once the
reply's header block is in: the server has answered, and a close with unread data resets
anyway).
"""

import asyncio
import errno
import os
import socket
from dataclasses import dataclass

from pykeepalived.check.probes.callback import Attempt, awaited, soon
from pykeepalived.check.probes.common import ProbeTarget, describe_os_error, make_socket
from pykeepalived.check.result import ProbeResult
from pykeepalived.check.spec import Abort, Done


@dataclass(frozen=True, slots=True, kw_only=True)
class TcpParams:
    """TCP_CHECK has no options beyond the common ones."""


async def probe(target: ProbeTarget, params: TcpParams | None = None) -> ProbeResult:
    del params
    return await awaited(LeanTcp(target), target.connect_timeout_s)


class LeanTcp:
    """TCP_CHECK bound to its target: a runner ``Starter``."""

    __slots__ = ("target",)

    def __init__(self, target: ProbeTarget) -> None:
        self.target = target

    def __call__(self, done: Done) -> Abort:
        attempt = _Connect(asyncio.get_running_loop(), self.target, done)
        attempt.connect()
        return attempt.abort

    def __repr__(self) -> str:
        return f"LeanTcp({self.target!r})"


class _Connect(Attempt):
    """One connection attempt; ``done`` once with its outcome, unless aborted."""

    __slots__ = ("_loop", "_sock", "_target", "_watching")

    def __init__(self, loop: asyncio.AbstractEventLoop, target: ProbeTarget, done: Done) -> None:
        self._loop = loop
        self._target = target
        super().__init__(done)
        self._sock: socket.socket | None = None
        self._watching = 0  # the fd registered as a writer, or 0

    def connect(self) -> None:
        try:
            sock = self._sock = make_socket(self._target, socket.SOCK_STREAM)
            err = sock.connect_ex(self._target.sockaddr())
        except OSError as exc:
            self._finish(False, describe_os_error(exc))
            return
        if err == 0:
            self._finish(True, "connected")
        elif err == errno.EINPROGRESS:
            soon(self._loop, self)
        else:
            self._finish(False, os.strerror(err).lower())

    def read(self) -> None:
        """The batch's look: connected, refused, or still in progress (then wait for it)."""
        sock = self._sock
        if sock is None or self._done is None:
            return  # aborted meanwhile
        err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            self._finish(False, os.strerror(err).lower())
            return
        try:
            sock.getpeername()
        except OSError:  # ENOTCONN: the handshake is not done yet
            self._watching = sock.fileno()
            self._loop.add_writer(self._watching, self._on_writable)
            return
        self._finish(True, "connected")

    def _on_writable(self) -> None:
        sock = self._sock
        if sock is None or self._done is None:
            return
        err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        self._finish(not err, os.strerror(err).lower() if err else "connected")

    def _close(self) -> None:
        if self._watching:
            self._loop.remove_writer(self._watching)
            self._watching = 0
        if self._sock is not None:
            self._sock.close()
            self._sock = None
