"""Sending keepalived's e-mail alerts without ever holding up VRRP or the checkers.

Rules: asyncio glue (L3). ``Mailer.submit`` never blocks and never raises: it puts the alert
on a bounded queue (full: the alert is dropped, counted and logged); ``WORKERS`` task(s)
send them, one SMTP connection per alert as keepalived does, in the order of the events
(keepalived sends them all at once: a slow first mail can arrive after the second). Each
step of the dialogue (connect, every reply) waits at most ``smtp_connect_timeout``
(keepalived's read/write timer); a refused connection, a timeout or a reply other than the
expected code is logged with the step and the server's reply, counted, and the alert is gone
(keepalived does not retry either).
``close`` gives what is still queued (the STOP mails of a shutdown) a short grace, then drops
and counts the rest.

The dialogue (``core/smtp.c``): greeting 220, ``HELO name`` 250 (HELO, not EHLO), ``MAIL
FROM:<from>`` 250, ``RCPT TO:<to>`` 250 per recipient, ``DATA`` 354, the message and ``.``
250, ``QUIT`` 221. After a wrong code keepalived sends QUIT and gives up; so do we.
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from pykeepalived.alerts.rules import Alert, MailSettings, envelope, message

log = logging.getLogger("pykeepalived.smtp")
MAX_QUEUE = 256
WORKERS = 1  # in order: a MASTER mail never overtakes the BACKUP mail before it
STOP_GRACE_S = 1.0
MAX_REPLY_LINES = 64


class SmtpReplyError(Exception):
    """The server answered a step with another code than the one expected."""

    def __init__(self, step: str, reply: str) -> None:
        super().__init__(f"{step}: server replied {reply!r}")
        self.step = step
        self.reply = reply


@dataclass
class MailStats:
    submitted: int = 0
    sent: int = 0
    failed: int = 0
    dropped: int = 0

    def outcomes(self) -> dict[str, int]:
        """What became of the alerts: sent, failed (refused, no answer), dropped (queue full,
        or still waiting at stop). What is neither is waiting or being sent."""
        return {"sent": self.sent, "failed": self.failed, "dropped": self.dropped}


async def _reply(reader: asyncio.StreamReader, timeout_s: float) -> tuple[int, str]:
    """One reply (a ``250-`` line continues it): its code and its text, lines joined."""
    lines: list[str] = []
    async with asyncio.timeout(timeout_s):
        for _ in range(MAX_REPLY_LINES):
            raw = await reader.readline()
            if not raw:
                raise ConnectionError("the server closed the connection")
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            lines.append(line)
            if line[3:4] != "-":
                break
    text = " / ".join(lines)
    code = lines[-1][:3]
    return (int(code) if code.isdigit() else -1), text


async def _step(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    line: str | None,
    expected: int,
    step: str,
    timeout_s: float,
) -> None:
    try:
        if line is not None:
            writer.write(line.encode("utf-8") + b"\r\n")
            async with asyncio.timeout(timeout_s):
                await writer.drain()
        code, text = await _reply(reader, timeout_s)
    except TimeoutError:
        raise TimeoutError(f"{step}: no reply within {timeout_s:g} s") from None
    if code != expected:
        raise SmtpReplyError(step, text)


def _data(text: str) -> bytes:
    """The message with leading dots doubled, ended by ``.`` (RFC 5321 4.5.2)."""
    lines = text.split("\r\n")
    if lines and lines[-1] == "":
        lines.pop()
    stuffed = ["." + x if x.startswith(".") else x for x in lines]
    return ("\r\n".join(stuffed) + "\r\n.\r\n").encode("utf-8")


async def send(mail: MailSettings, alert: Alert, now: datetime) -> None:
    """Deliver one alert over one connection; raises ``SmtpReplyError``, ``OSError`` or
    ``TimeoutError`` (the step that failed is in the message)."""
    t = mail.timeout_s
    try:
        async with asyncio.timeout(t):
            reader, writer = await asyncio.open_connection(mail.server, mail.port)
    except TimeoutError:
        raise TimeoutError(f"connect: no answer within {t:g} s") from None
    try:
        try:
            await _step(reader, writer, None, 220, "greeting", t)
            await _step(reader, writer, f"HELO {mail.helo}", 250, "HELO", t)
            await _step(reader, writer, f"MAIL FROM:<{envelope(mail.sender)}>", 250, "MAIL", t)
            for rcpt in mail.recipients:
                await _step(reader, writer, f"RCPT TO:<{envelope(rcpt)}>", 250, "RCPT", t)
            await _step(reader, writer, "DATA", 354, "DATA", t)
            writer.write(_data(message(mail, alert, now)))
            await _step(reader, writer, None, 250, "message", t)
        except SmtpReplyError:
            with contextlib.suppress(OSError, TimeoutError):  # keepalived: QUIT, then give up
                writer.write(b"QUIT\r\n")
                async with asyncio.timeout(t):
                    await writer.drain()
            raise
        with contextlib.suppress(OSError, TimeoutError, SmtpReplyError):
            await _step(reader, writer, "QUIT", 221, "QUIT", t)  # the mail is already taken
    finally:
        writer.close()
        with contextlib.suppress(OSError, TimeoutError):
            async with asyncio.timeout(t):
                await writer.wait_closed()


Send = Callable[[MailSettings, Alert, datetime], Awaitable[None]]


class Mailer:
    """The queue and its workers; ``start`` inside the running loop, ``close`` at the end."""

    def __init__(
        self,
        *,
        max_queue: int = MAX_QUEUE,
        workers: int = WORKERS,
        sender: Send = send,
        clock: Callable[[], datetime] = lambda: datetime.now().astimezone(),
    ) -> None:
        self.stats = MailStats()
        self._queue: asyncio.Queue[tuple[MailSettings, Alert, datetime]] = asyncio.Queue(max_queue)
        self._workers = workers
        self._send = sender
        self._clock = clock
        self._tasks: list[asyncio.Task[None]] = []
        self._in_flight = 0

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._work(), name=f"smtp-alert-{n}") for n in range(self._workers)
        ]

    def submit(self, mail: MailSettings | None, alert: Alert | None) -> None:
        """Queue ``alert`` (nothing when either is None); never blocks, never raises."""
        if mail is None or alert is None:
            return
        self.stats.submitted += 1
        subject = mail.subject(alert)
        if not self._tasks:
            self._drop(subject, "the sender is not running")
            return
        try:
            self._queue.put_nowait((mail, alert, self._clock()))
        except asyncio.QueueFull:
            self._drop(subject, f"{self._queue.maxsize} alerts are already waiting")

    def _drop(self, subject: str, why: str) -> None:
        self.stats.dropped += 1
        log.error("SMTP alert '%s' dropped: %s (%d dropped so far)", subject, why,
                  self.stats.dropped)  # fmt: skip

    async def _work(self) -> None:
        while True:
            mail, alert, at = await self._queue.get()
            self._in_flight += 1
            try:
                await self._send(mail, alert, at)
            except (OSError, TimeoutError, SmtpReplyError) as exc:
                self.stats.failed += 1
                reason = str(exc) or type(exc).__name__
                log.error("SMTP alert '%s' not sent to %s port %d: %s", mail.subject(alert),
                          mail.server, mail.port, reason)  # fmt: skip
            else:
                self.stats.sent += 1
                log.info("SMTP alert '%s' sent to %s", mail.subject(alert),
                         ", ".join(mail.recipients))  # fmt: skip
            finally:
                self._in_flight -= 1
                self._queue.task_done()

    async def close(self, grace_s: float = STOP_GRACE_S) -> None:
        """Let queued alerts go for ``grace_s`` at most, then stop; what is left is dropped
        and counted (in flight or queued)."""
        if not self._tasks:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(grace_s):
                await self._queue.join()
        unfinished = self._queue.qsize() + self._in_flight
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if unfinished:
            self.stats.dropped += unfinished
            log.error("SMTP: %d alert(s) not sent at stop (no answer within %.1f s)",
                      unfinished, grace_s)  # fmt: skip
