"""SMTP_CHECK: greeting 220, ``HELO helo_name`` answered 250, then QUIT.

Rules: the dialogue of keepalived ``check_smtp.c``: a multi-line reply (``250-...``) ends at the
line whose code is followed by a space. The QUIT answer is read but not judged, as there.
"""

import asyncio
from dataclasses import dataclass

from pykeepalived.check.probes.common import ProbeTarget, drop, guarded, open_stream
from pykeepalived.check.result import ProbeResult
from pykeepalived.errors import RemoteProtocolError

SMTP_DEFAULT_HELO = "smtpchecker.keepalived.org"
_MAX_REPLY_LINES = 100


@dataclass(frozen=True, slots=True, kw_only=True)
class SmtpParams:
    helo_name: str = SMTP_DEFAULT_HELO

    def __post_init__(self) -> None:
        if not self.helo_name or any(c in self.helo_name for c in "\r\n"):
            raise ValueError("helo_name must be one non-empty line")


async def probe(target: ProbeTarget, params: SmtpParams) -> ProbeResult:
    return await guarded(target.connect_timeout_s, _dialogue(target, params))


async def _dialogue(target: ProbeTarget, params: SmtpParams) -> ProbeResult:
    reader, writer = await open_stream(target)
    try:
        if (code := await read_reply(reader)) != 220:
            return ProbeResult(ok=False, reason=f"greeting {code}")
        writer.write(f"HELO {params.helo_name}\r\n".encode())
        await writer.drain()
        if (code := await read_reply(reader)) != 250:
            return ProbeResult(ok=False, reason=f"HELO answered {code}")
        writer.write(b"QUIT\r\n")
        await writer.drain()
        await read_reply(reader)
        return ProbeResult(ok=True, reason="HELO accepted")
    finally:
        drop(writer)


async def read_reply(reader: asyncio.StreamReader) -> int:
    """The code of one (possibly multi-line) SMTP reply."""
    for _ in range(_MAX_REPLY_LINES):
        line = await reader.readuntil(b"\n")
        if len(line) < 3 or not line[:3].isdigit():
            raise RemoteProtocolError("bad_smtp_reply", repr(line[:40]))
        if line[3:4] != b"-":
            return int(line[:3])
    raise RemoteProtocolError("bad_smtp_reply", "too many continuation lines")
