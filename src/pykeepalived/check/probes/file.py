"""FILE_CHECK: the number in a tracked file decides health and a weight adjustment.

Rules (keepalived.conf(5) "Track files", ``track_file.c``): the file's first 127 bytes are read
as a C ``strtol(buf, NULL, 0)`` (so ``0x10`` and ``010`` work, trailing text is ignored, no
number is 0); a missing or empty file is 0. With ``weight`` 0, a non-zero value is a failure
(``reverse``: a zero value is). Otherwise value x weight (negated by ``reverse``) is the weight
adjustment, and a result at or below -2^31 is a failure (keepalived's ``IPVS_WEIGHT_FAULT``).
A value outside the 32-bit range is refused (keepalived ignores it; we, being stateless, fail).

Deviation: keepalived re-reads on inotify events; here the runner polls every ``delay_loop``.
"""

import asyncio
import re
from dataclasses import dataclass

from pykeepalived.check.probes.common import ProbeTarget
from pykeepalived.check.result import ProbeResult

WEIGHT_FAULT = -(2**31)
_STRTOL = re.compile(r"\s*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)")


@dataclass(frozen=True, slots=True, kw_only=True)
class FileParams:
    file_path: str
    weight: int = 1
    reverse: bool = False


def strtol(text: str) -> int:
    """C ``strtol(text, NULL, 0)`` for the cases a track file holds; no digits -> 0."""
    match = _STRTOL.match(text)
    if match is None:
        return 0
    sign, digits = match.groups()
    value = (
        int(digits, 16)
        if digits[:2] in ("0x", "0X")
        else int(digits, 8 if digits[0] == "0" else 10)
    )
    return -value if sign == "-" else value


def verdict(value: int, params: FileParams) -> ProbeResult:
    if not -(2**31) <= value <= 2**31:
        return ProbeResult(ok=False, reason=f"invalid number {value}")
    if params.weight == 0:
        failed = (value == 0) if params.reverse else (value != 0)
        return ProbeResult(ok=not failed, reason=f"value {value}")
    adjust = value * params.weight * (-1 if params.reverse else 1)
    if adjust <= WEIGHT_FAULT:
        return ProbeResult(ok=False, reason=f"value {value}: fault")
    return ProbeResult(ok=True, reason=f"value {value}", weight_delta=min(adjust, 2**31 - 1))


def read_value(path: str) -> int:
    try:
        with open(path, "rb") as fh:
            raw = fh.read(127)
    except FileNotFoundError:
        return 0
    return strtol(raw.decode("ascii", "replace"))


async def probe(target: ProbeTarget | None, params: FileParams) -> ProbeResult:
    """``target`` is unused. The read runs in a thread: a file on a hung NFS must not block."""
    del target
    loop = asyncio.get_running_loop()
    start = loop.time()
    try:
        value = await asyncio.to_thread(read_value, params.file_path)
    except OSError as exc:
        return ProbeResult(ok=False, reason=f"cannot read: {exc.strerror or exc}")
    result = verdict(value, params)
    return ProbeResult(
        ok=result.ok,
        reason=result.reason,
        latency_s=loop.time() - start,
        weight_delta=result.weight_delta,
    )
