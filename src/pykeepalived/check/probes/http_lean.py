"""HTTP_GET judged on the status alone, as a callback-driven exchange: the checker's hot path.

Rules: ``LeanHttp(target, params)(done)`` connects, sends keepalived's request and arranges
to read the reply's header block; it calls ``done(result)`` exactly once, unless the ``abort``
it returns is called first (after which it never calls ``done``). It owns no timer: the
caller bounds it (the runner's deadline heap, or ``probe`` with ``asyncio.timeout``). Peer
faults become failed results with the same reasons as the streams path (``guarded``);
``done`` may be called before ``start`` returns (a refused loopback connect).

Why callbacks and not a coroutine: at 10,000 checks a second a task, its coroutine frames,
an ``asyncio.timeout`` and a future per probe cost more CPU than the system calls. Here a
probe is one small object and, on a near server, never touches the selector:

* the request goes out right after ``connect()`` (on loopback or a near server the
  handshake is done by then; a socket still connecting answers EAGAIN and waits for
  writability as usual);
* the reply is looked for ``callback.REPLY_BATCH_S`` later, together with every probe sent
  in the same slice, by one timer; only a probe whose reply is not there yet registers a
  reader;
* the socket is closed with a reset (``SO_LINGER`` 0), as HAProxy closes its checks: no
  FIN exchange, no TIME_WAIT on either side (thousands of checks a second would otherwise
  fill the server's TIME_WAIT table), about 9 us of kernel time less per check here. The
  server has answered by then; a body still on its way would have drawn a reset anyway
  (Linux resets a socket closed with unread data), as the previous lean path did.
"""

import asyncio
import errno
import os
import socket
import struct

from pykeepalived.check.probes.callback import Attempt, awaited, soon
from pykeepalived.check.probes.common import ProbeTarget, describe_os_error, make_socket
from pykeepalived.check.probes.http import (
    MAX_HEAD,
    READ_CHUNK,
    STATUS_LINE,
    HttpParams,
    build_request,
)
from pykeepalived.check.result import ProbeResult
from pykeepalived.check.spec import Abort, Done

CLOSED_EARLY = "connection closed early or oversized reply"  # guarded's words
_HARD_CLOSE = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends a reset


class LeanHttp:
    """The probe bound to its target and params, requests built once: a runner ``Starter``."""

    __slots__ = ("params", "requests", "target")

    def __init__(self, target: ProbeTarget, params: HttpParams) -> None:
        if not params.status_only:
            raise ValueError("the lean path judges the status only (no TLS, digest or regex)")
        self.target = target
        self.params = params
        self.requests = tuple(build_request(target, params, url) for url in params.urls)

    def __call__(self, done: Done) -> Abort:
        """Start one probe of every url (see the module rules)."""
        exchange = _Exchange(asyncio.get_running_loop(), self, done)
        exchange.connect()
        return exchange.abort

    def __repr__(self) -> str:
        return f"LeanHttp({self.target!r}, {self.params!r})"


async def probe(target: ProbeTarget, params: HttpParams) -> ProbeResult:
    """The same probe as a coroutine, bounded by ``connect_timeout`` as ``guarded`` does."""
    return await awaited(LeanHttp(target, params), target.connect_timeout_s)


class _Exchange(Attempt):
    """One probe: the urls in turn, one connection each, read up to the header block's end."""

    __slots__ = ("_head", "_index", "_loop", "_pending", "_probe", "_sock", "_watching")

    def __init__(self, loop: asyncio.AbstractEventLoop, probe: LeanHttp, done: Done) -> None:
        self._loop = loop
        self._probe = probe
        super().__init__(done)
        self._index = 0  # the url being checked
        self._sock: socket.socket | None = None
        self._pending = b""  # request bytes not sent yet
        self._head = b""
        self._watching = 0  # 0, or the fd registered with the loop (reader or writer)

    # -- steps -----------------------------------------------------------------------------

    def connect(self) -> None:
        target = self._probe.target
        try:
            sock = self._sock = make_socket(target, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _HARD_CLOSE)
            err = sock.connect_ex(target.sockaddr())
            if err not in (0, errno.EINPROGRESS):
                raise OSError(err, os.strerror(err))  # e.g. connection refused
            self._pending = self._probe.requests[self._index]
            self._head = b""
            self._send()
        except OSError as exc:
            self._finish(False, describe_os_error(exc))

    def _send(self) -> None:
        """Send what is pending; then look for the reply in the next batch."""
        sock = self._sock
        assert sock is not None
        try:
            sent = sock.send(self._pending)
        except BlockingIOError:  # still connecting (or a full buffer): wait for writability
            sent = 0
        self._pending = self._pending[sent:]
        if self._pending:
            if not self._watching:
                self._watching = sock.fileno()
                self._loop.add_writer(self._watching, self._on_writable)
            return
        if self._watching:
            self._unwatch()
        soon(self._loop, self)

    def _on_writable(self) -> None:
        sock = self._sock
        if sock is None or self._done is None:
            return
        try:
            err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                raise OSError(err, os.strerror(err))
            self._send()
        except OSError as exc:
            self._finish(False, describe_os_error(exc))

    def read(self) -> None:
        """Read what has come; judge a complete header block, else wait for more."""
        sock = self._sock
        if sock is None or self._done is None:
            return  # aborted meanwhile
        try:
            while (end := self._head.find(b"\r\n\r\n")) < 0:
                if len(self._head) > MAX_HEAD:
                    self._fail("oversized_head", f"no header end in {MAX_HEAD} bytes")
                    return
                chunk = sock.recv(READ_CHUNK)
                if not chunk:
                    self._finish(False, CLOSED_EARLY)
                    return
                self._head += chunk
        except BlockingIOError:  # not yet: have the loop tell us
            if not self._watching:
                self._watching = sock.fileno()
                self._loop.add_reader(self._watching, self.read)
            return
        except OSError as exc:
            self._finish(False, describe_os_error(exc))
            return
        if end > MAX_HEAD:
            self._fail("oversized_head", f"no header end in {MAX_HEAD} bytes")
        else:
            self._judge()

    def _judge(self) -> None:
        match = STATUS_LINE.match(self._head)
        if match is None:
            self._fail("bad_status_line", repr(self._head[:40]))
            return
        status = int(match.group(1))
        urls = self._probe.params.urls
        url = urls[self._index]
        if not url.accepts(status):
            self._finish(False, f"status {status} on {url.path}")
            return
        self._index += 1
        if self._index < len(urls):
            self._close()
            self.connect()
        else:
            self._finish(True, f"{len(urls)} url(s) ok")

    # -- endings ---------------------------------------------------------------------------

    def _fail(self, slug: str, detail: str) -> None:
        self._finish(False, f"{slug}: {detail}")  # RemoteProtocolError's

    def _unwatch(self) -> None:
        self._loop.remove_reader(self._watching)
        self._loop.remove_writer(self._watching)
        self._watching = 0

    def _close(self) -> None:
        if self._watching:
            self._unwatch()
        if self._sock is not None:
            self._sock.close()
            self._sock = None
