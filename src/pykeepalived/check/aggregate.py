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
