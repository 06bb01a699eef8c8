"""Mastership holds: an operator's "stay BACKUP until I say so" (the API's release-master).

Rules: pure values, no I/O, no clock. A ``Hold`` is an explicit input to the instance core
(``Instance.hold_backup`` / ``Instance.release_backup``), like a fault holder, but it keeps the
instance in BACKUP rather than FAULT: it keeps hearing the master, it answers nothing, and it
never becomes MASTER while held (no preemption, no takeover on Master_Down expiry, no sync-group
pull). keepalived has no such command; operators emulate it with a track_file weight or a fault,
which either preempts straight back or shows FAULT. Times are on the caller's ``now`` scale.
"""

from dataclasses import dataclass

API_HOLDER = "api"
MAX_HOLD_S = 7 * 24 * 3600.0  # a week: longer is surely a typo (seconds taken for minutes)


@dataclass(frozen=True, slots=True, kw_only=True)
class Hold:
    """``holder`` keeps the instance out of MASTER since ``since``, until ``until`` (None: until
    it is lifted). ``reason`` is for the operator (who asked, from where)."""

    holder: str
    reason: str
    since: float
    until: float | None = None

    def __post_init__(self) -> None:
        if not self.holder:
            raise ValueError("a hold needs a holder name")
        if self.until is not None and not self.since < self.until <= self.since + MAX_HOLD_S:
            raise ValueError(
                f"hold until {self.until} is not within {MAX_HOLD_S:g} s of {self.since}"
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class HoldOutcome:
    """The driver's answer to a release/reclaim command (the daemon turns it into its result)."""

    ok: bool
    message: str
    not_found: bool = False
