"""A real server's health from its checkers: up when every checker is up.

Rules: pure. It owns the per-real-server fold of checker events (alive, dynamic weight) and
nothing of policy: quorum, sorry servers and inhibit_on_failure belong to the LVS layer.

keepalived semantics (``check_api.c``/``ipwrapper.c``, read for facts): a real server is alive
when none of its checkers is down; with no checker at all it is always alive. Its effective
weight is the configured weight plus each checker's adjustment: MISC_CHECK ``misc_dynamic``
sets an absolute weight (adjustment = weight - configured), FILE_CHECK adds value x weight.
"""

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass

from pykeepalived.check.hysteresis import CheckerDown, CheckerUp, Event, WeightChanged


@dataclass(frozen=True, slots=True, kw_only=True)
class RealServerChanged:
    """The fold's output: the server's state after an event, when it differs from before."""

    alive: bool
    weight: int


class RealServerHealth:
    """Fold checker events into ``alive`` and ``weight`` for one real server."""

    def __init__(self, configured_weight: int, initial: Mapping[Hashable, bool]) -> None:
        """``initial`` maps each checker key to its starting state (``Hysteresis.is_up``)."""
        self.configured_weight = configured_weight
        self._up: dict[Hashable, bool] = dict(initial)
        self._absolute: dict[Hashable, int] = {}
        self._delta: dict[Hashable, int] = {}

    @property
    def alive(self) -> bool:
        return all(self._up.values())

    @property
    def down_checkers(self) -> list[Hashable]:
        return [key for key, up in self._up.items() if not up]

    @property
    def weight(self) -> int:
        """Configured weight plus every checker's adjustment, never below 0."""
        base = self.configured_weight
        total = base + sum(w - base for w in self._absolute.values()) + sum(self._delta.values())
        return max(total, 0)

    def apply(self, key: Hashable, events: Iterable[Event]) -> RealServerChanged | None:
        """Apply one checker's events; return the new state if alive or weight changed."""
        if key not in self._up:
            raise KeyError(f"unknown checker {key!r}")
        before = (self.alive, self.weight)
        for event in events:
            if isinstance(event, CheckerUp):
                self._up[key] = True
            elif isinstance(event, CheckerDown):
                self._up[key] = False
            elif isinstance(event, WeightChanged):
                self._set_weight(key, event)
        after = (self.alive, self.weight)
        if after == before:
            return None
        return RealServerChanged(alive=after[0], weight=after[1])

    def _set_weight(self, key: Hashable, event: WeightChanged) -> None:
        if event.weight is None:
            self._absolute.pop(key, None)
        else:
            self._absolute[key] = event.weight
        if event.weight_delta is None:
            self._delta.pop(key, None)
        else:
            self._delta[key] = event.weight_delta


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerChanged:
    """``RealServerChanged`` with the real server it is about."""

    server: Hashable
    alive: bool
    weight: int


class HealthBook:
    """Every real server's health, fed by checker events keyed by checker.

    The daemon registers each real server with its checkers' keys (the runner's
    ``initial_states`` give their starting states) and passes every ``CheckEvent`` through
    ``apply``; what comes out is what the LVS layer must act on.
    """

    def __init__(self) -> None:
        self._servers: dict[Hashable, RealServerHealth] = {}
        self._owner: dict[Hashable, Hashable] = {}  # checker key -> server key

    def add_server(
        self, server: Hashable, configured_weight: int, checkers: Mapping[Hashable, bool]
    ) -> None:
        if server in self._servers:
            raise ValueError(f"duplicate real server {server!r}")
        clash = [key for key in checkers if key in self._owner]
        if clash:
            raise ValueError(f"checkers {clash!r} already belong to another server")
        self._servers[server] = RealServerHealth(configured_weight, checkers)
        for key in checkers:
            self._owner[key] = server

    def remove_server(self, server: Hashable) -> None:
        del self._servers[server]
        for key in [k for k, owner in self._owner.items() if owner == server]:
            del self._owner[key]

    def server(self, server: Hashable) -> RealServerHealth:
        return self._servers[server]

    def apply(self, checker: Hashable, events: Iterable[Event]) -> ServerChanged | None:
        """Unknown checkers are ignored: their events may trail a reload that removed them."""
        server = self._owner.get(checker)
        if server is None:
            return None
        changed = self._servers[server].apply(checker, events)
        if changed is None:
            return None
        return ServerChanged(server=server, alive=changed.alive, weight=changed.weight)
