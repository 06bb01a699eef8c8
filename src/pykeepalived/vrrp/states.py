"""VRRP instance states and the table of allowed transitions.

Rules: this module owns the *shape* of the state machine, as data: which states exist and which
changes between them are possible. It knows nothing about adverts, timers or priorities; the
instance core (``instance.py``) decides *when* to move and asks :func:`check_transition` first,
so an impossible move is a loud local bug, never a silent corruption.

States follow RFC 5798 section 6.4 (Initialize, Backup, Master) plus keepalived's internal
FAULT (a tracked interface, script or file says we must not serve), STOP (shut down; final) and
DELETED (removed from the configuration by a reload; final).
"""

from enum import Enum

from pykeepalived.errors import PyKeepalivedError


class State(Enum):
    """One instance's state; values are keepalived's own names (notify scripts, FIFO, logs)."""

    INIT = "INIT"
    BACKUP = "BACKUP"
    MASTER = "MASTER"
    FAULT = "FAULT"
    STOP = "STOP"
    DELETED = "DELETED"


class InvalidTransitionError(PyKeepalivedError):
    """A local bug: the core tried a state change the table does not allow."""

    def __init__(self, name: str, old: State, new: State) -> None:
        super().__init__(f"({name}) impossible transition {old.value} -> {new.value}")
        self.old = old
        self.new = new


# Every allowed (from, to) pair. Staying in a state is not a transition and is never listed.
# INIT -> MASTER: an address owner (priority 255) configured `state MASTER` takes over at once.
# FAULT -> MASTER: an address owner leaving FAULT, or a sync group pulling a member up.
# BACKUP <-> MASTER: the RFC 5798 election. Any live state -> FAULT (tracking), STOP (shutdown)
# or DELETED (gone from the config at a reload).
_LIVE = (State.INIT, State.BACKUP, State.MASTER, State.FAULT)

TRANSITIONS: frozenset[tuple[State, State]] = frozenset(
    {(live, State.DELETED) for live in _LIVE}
    | {
        (State.INIT, State.BACKUP),
        (State.INIT, State.MASTER),
        (State.INIT, State.FAULT),
        (State.INIT, State.STOP),
        (State.BACKUP, State.MASTER),
        (State.BACKUP, State.FAULT),
        (State.BACKUP, State.STOP),
        (State.MASTER, State.BACKUP),
        (State.MASTER, State.FAULT),
        (State.MASTER, State.STOP),
        (State.FAULT, State.BACKUP),
        (State.FAULT, State.MASTER),
        (State.FAULT, State.STOP),
    }
)


def check_transition(name: str, old: State, new: State) -> None:
    """Raise :class:`InvalidTransitionError` unless ``old -> new`` is in :data:`TRANSITIONS`."""
    if (old, new) not in TRANSITIONS:
        raise InvalidTransitionError(name, old, new)
