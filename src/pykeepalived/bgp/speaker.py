"""The port the daemon drives a BGP engine through, and what both engines share.

Rules: a ``Speaker`` announces and withdraws prefixes; the engine decides nothing. Every
director sends identical attributes (next hop self, no MED, no communities, no prepends):
the router merges equal paths into one ECMP route, and an attribute that differs on one
director (an extra MED) would leave it a single best path. A change of state is a withdraw
and an announce, never an attribute change.
"""

import os
from pathlib import Path
from typing import Protocol

from pykeepalived.config.model_bgp import BgpSpeaker


class SpeakerError(Exception):
    """The engine refused a command or is not running; the message says which and why."""


class Speaker(Protocol):
    name: str

    async def start(self) -> None: ...

    async def announce(self, prefix: str) -> None: ...

    async def withdraw(self, prefix: str) -> None: ...

    async def stop(self) -> None:
        """Withdraw by closing the sessions (the engine ends); idempotent."""
        ...


def state_dir(config: BgpSpeaker) -> Path:
    """Where the generated config, sockets and logs go; one set per daemon (its PID)."""
    path = Path(config.state_dir) / f"bgp-{os.getpid()}"
    path.mkdir(parents=True, exist_ok=True)
    return path


class NoSpeaker:
    """A placeholder until the real speaker is built (the daemon needs the prefixes first)."""

    name = "none"

    async def start(self) -> None:
        raise SpeakerError("no BGP speaker")

    async def announce(self, prefix: str) -> None:
        raise SpeakerError("no BGP speaker")

    async def withdraw(self, prefix: str) -> None:
        raise SpeakerError("no BGP speaker")

    async def stop(self) -> None:
        return None
