"""VRRP transitions as the daemon's readers see them, collected from the VRRP log lines.

Rules: L4. ``(VI_1) Entering MASTER STATE`` lines (keepalived's wording) become transitions
and events, so the daemon needs no hook into the VRRP driver and the API shows exactly what
the log says. Apart from ``snapshot`` (which reads it): the daemon builds the recorder at
start, the snapshot code only when a reader asks (its imports wait until then).
"""

import logging
import re
from collections import deque
from collections.abc import Callable

from pykeepalived.eventlog import EventLog, Transition

_ENTERING = re.compile(r"^\((?P<name>[^)]+)\) Entering (?P<state>[A-Z]+) STATE(?P<rest>.*)$")


class TransitionRecorder(logging.Handler):
    """A log handler: VRRP state lines become transitions and events."""

    def __init__(self, events: EventLog, keep: int = 20) -> None:
        super().__init__(level=logging.INFO)
        self.listeners: list[Callable[[str, str], None]] = []
        self.events = events
        self.keep = keep
        self.transitions: dict[str, deque[Transition]] = {}
        self.current: dict[str, str] = {}

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        self.events.add("vrrp", message, at=record.created)
        match = _ENTERING.match(message)
        if match is None:
            return
        name, state = match["name"], match["state"]
        old = self.current.get(name, "INIT")
        self.current[name] = state
        reason = match["rest"].strip(" ()") or "election"
        ring = self.transitions.setdefault(name, deque(maxlen=self.keep))
        ring.append(Transition(at=record.created, old=old, new=state, reason=reason))
        for listener in self.listeners:
            listener(name, state)
