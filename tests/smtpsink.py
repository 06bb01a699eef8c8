"""A tiny SMTP server for the alert tests: it takes mail and keeps it, nothing more.

Runs its own asyncio loop in a thread, so a test can drive daemons (subprocesses) while it
serves; it listens on a socket the test made (``listening``: on 127.0.0.1, or inside a network
namespace when made under ``nsutil.inside``). ``reject`` makes one command answer with an
error code, to see how the sender logs a refusal. Speaks just what keepalived's dialogue
needs: greeting, HELO/EHLO, MAIL, RCPT, DATA (dot-unstuffed), RSET, NOOP, QUIT.
"""

import asyncio
import socket
import threading
import time
from dataclasses import dataclass, field


@dataclass
class Mail:
    helo: str
    sender: str
    recipients: list[str]
    data: str

    def header(self, name: str) -> str:
        head = self.data.split("\r\n\r\n", 1)[0]
        for line in head.split("\r\n"):
            if line.lower().startswith(name.lower() + ":"):
                return line.split(":", 1)[1].strip()
        return ""

    @property
    def body(self) -> str:
        return self.data.split("\r\n\r\n", 1)[1] if "\r\n\r\n" in self.data else ""


def listening(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(16)
    return sock


@dataclass
class SmtpSink:
    sock: socket.socket
    reject: dict[str, str] = field(default_factory=dict)  # "RCPT" -> "550 no such user"
    mails: list[Mail] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    _cond: threading.Condition = field(default_factory=threading.Condition)
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    def __enter__(self) -> "SmtpSink":
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            server = loop.run_until_complete(asyncio.start_server(self._serve, sock=self.sock))
            ready.set()
            loop.run_forever()
            server.close()
            loop.run_until_complete(server.wait_closed())
            loop.close()

        self._thread = threading.Thread(target=run, name="smtp-sink", daemon=True)
        self._thread.start()
        ready.wait(5)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(5)

    def wait_mails(self, count: int, timeout: float = 10.0) -> list[Mail]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.mails) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    subjects = [m.header("Subject") for m in self.mails]
                    raise TimeoutError(f"{count} mails not received in {timeout}s: {subjects}")
                self._cond.wait(min(left, 0.1))
            return list(self.mails)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async def say(line: str) -> None:
            writer.write(line.encode() + b"\r\n")
            await writer.drain()

        helo, sender, rcpts = "", "", []
        await say("220 sink ESMTP ready")
        try:
            while line := (await reader.readline()).decode(errors="replace").rstrip("\r\n"):
                verb = line.split(" ", 1)[0].split(":", 1)[0].upper()
                with self._cond:
                    self.commands.append(line)
                if verb in self.reject:
                    await say(self.reject[verb])
                elif verb in ("HELO", "EHLO"):
                    helo = line.split(" ", 1)[1] if " " in line else ""
                    await say("250 sink")
                elif verb == "MAIL":
                    sender, rcpts = line.split(":", 1)[1].strip(), []
                    await say("250 ok")
                elif verb == "RCPT":
                    rcpts.append(line.split(":", 1)[1].strip())
                    await say("250 ok")
                elif verb == "DATA":
                    await say("354 go ahead")
                    lines = []
                    while (raw := await reader.readline()) not in (b".\r\n", b""):
                        text = raw.decode(errors="replace").removesuffix("\r\n")
                        lines.append(text[1:] if text.startswith(".") else text)
                    with self._cond:
                        self.mails.append(Mail(helo, sender, rcpts, "\r\n".join(lines)))
                        self._cond.notify_all()
                    await say("250 queued")
                elif verb == "QUIT":
                    await say("221 bye")
                    break
                else:
                    await say("250 ok")
        except ConnectionError:
            pass  # a sender killed mid-dialogue (keepalived stopping): nothing to keep
        finally:
            writer.close()
