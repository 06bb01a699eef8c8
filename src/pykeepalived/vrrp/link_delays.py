"""interface_up_down_delays: a link change counts only once it has lasted its delay.

Rules: pure, time passed in. The driver (``trackers.LinkTracker``) feeds every link
notification to :meth:`LinkDebounce.change` and asks :meth:`LinkDebounce.due` when
:meth:`LinkDebounce.next_due` comes; whatever either returns is the link state the trackers
act on. Why: a flapping cable or a switch port that bounces for a moment should not move
a VIP, and an operator says how long a change must persist per interface.

keepalived 2.2.7 (``keepalived_netlink.c`` ``update_interface_flags``, ``vrrp_parser.c``
``alloc_if_up_down_delay``, ``vrrp.c`` ``check_debounce_timers``):

- ``IFNAME DOWN [UP]``; the parser sets UP to 0 when it is omitted (the man page says "the
  same as the down delay"; the code, in 2.2.7 and since, says 0: a return counts at once).
- A change to the other state starts a timer of that direction's delay; the state is acted
  on when it fires. A change back before then cancels it ("Delay timer for X cancelled"): a
  bounce shorter than the delay is not seen at all. Further notifications in the pending
  direction neither restart nor shorten the timer.
- No delay until the interface has once been seen up (an interface down at start that comes
  up counts at once).
- On the interface of an instance the delays are cut below ``(down_timer_adverts - 1) *
  advert_int`` (minus advert_int / 256), and to 0 with ``down_timer_adverts 1``, so that a
  backup cannot time out before this node's FAULT is seen (:func:`clamp`).
"""

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Delays:
    """Seconds a link must stay down (``down_s``) or up (``up_s``) before it counts."""

    down_s: float
    up_s: float = 0.0


def clamp(delays: Delays, advert_int_s: float, down_timer_adverts: int) -> Delays:
    """The delays an instance on this interface allows (keepalived ``check_debounce_timers``)."""
    if down_timer_adverts == 1:
        return Delays(0.0, 0.0)
    limit = (down_timer_adverts - 1) * advert_int_s
    cut = limit - advert_int_s / 256
    return Delays(
        cut if delays.down_s >= limit else delays.down_s,
        cut if delays.up_s >= limit else delays.up_s,
    )


@dataclass(frozen=True, slots=True)
class Step:
    """What a notification did: ``act`` the state to act on now (None: nothing yet) and
    ``note`` keepalived's log line for a delay started or cancelled, if any."""

    act: bool | None = None
    note: str | None = None


@dataclass(slots=True)
class _Link:
    up: bool  # the state acted on
    seen_up: bool
    pending: bool | None = None
    due: float = 0.0


class LinkDebounce:
    """Per-interface delayed link states; interfaces without delays pass straight through."""

    def __init__(self, delays: Mapping[str, Delays]) -> None:
        self._delays = dict(delays)
        self._links: dict[str, _Link] = {}

    def initial(self, ifname: str, up: bool) -> None:
        """The state read at start: acted on as it is, no delay."""
        self._links[ifname] = _Link(up=up, seen_up=up)

    def change(self, ifname: str, up: bool, now: float) -> Step:
        delays = self._delays.get(ifname)
        link = self._links.get(ifname)
        if delays is None or link is None:
            if link is not None:
                link.up = up
            return Step(act=up)
        note = None
        if link.pending is not None:
            if link.pending == up:
                return Step()
            link.pending = None
            note = f"Delay timer for {ifname} cancelled"
        if up == link.up:
            return Step(note=note)
        delay = delays.up_s if up else delays.down_s
        if link.seen_up and delay > 0:
            link.pending, link.due = up, now + delay
            state = "up" if up else "down"
            return Step(note=f"{ifname}: {state} delayed by {delay:g} s")
        return Step(act=self._act(link, up), note=note)

    def next_due(self) -> float | None:
        dues = [link.due for link in self._links.values() if link.pending is not None]
        return min(dues) if dues else None

    def due(self, now: float) -> list[tuple[str, bool]]:
        """The delayed changes whose time has come, acted on now."""
        out: list[tuple[str, bool]] = []
        for ifname, link in self._links.items():
            if link.pending is not None and link.due <= now:
                up, link.pending = link.pending, None
                out.append((ifname, self._act(link, up)))
        return out

    @staticmethod
    def _act(link: _Link, up: bool) -> bool:
        link.up = up
        link.seen_up = link.seen_up or up
        return up
