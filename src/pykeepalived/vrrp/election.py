"""The election half of the instance core: what BACKUP and MASTER do with a received advert.

Rules: RFC 5798 sections 6.4.2 (Backup) and 6.4.3 (Master) with keepalived 2.2.7's choices
(``vrrp_state_backup``, ``vrrp_state_master_rx``); log texts are keepalived's. This base class
owns the election variables and timers; it never changes ``state`` itself: leaving MASTER goes
through the ``_yield_to`` hook that ``Instance`` implements with the transition table.
"""

from ipaddress import IPv4Address, IPv6Address

from pykeepalived.vrrp.events import (
    Action,
    AdvertReceived,
    Log,
    MasterRxLowerPriority,
    SendAdvert,
    SendExtraGratuitous,
    SendGratuitous,
)
from pykeepalived.vrrp.params import InstanceParams
from pykeepalived.vrrp.states import State
from pykeepalived.vrrp.timing import (
    PRIO_OWNER,
    PRIO_STOP,
    US_PER_CS,
    US_PER_S,
    master_down_us,
    skew_time_us,
    us_to_s,
)


class Election:
    """Election state of one instance; see ``Instance`` for the public API."""

    def __init__(self, params: InstanceParams) -> None:
        self.params = params
        self.name = params.name
        self.state = State.INIT
        self.effective_priority = params.priority
        self.master_adver_int_us = params.advert_int_us
        self.master_ip: IPv4Address | IPv6Address | None = None
        self.master_priority: int | None = None
        self.wants_master = params.initial_state is State.MASTER
        self._owner_demoted = False
        self._deadline: float | None = None  # BACKUP: master down; MASTER: next advert
        self._garps: list[tuple[float, int]] = []  # MASTER: delayed GARP rounds (when, repeat)
        self._not_before: float | None = None  # vrrp_startup_delay: no takeover before this
        self._refresh_at: float | None = None  # MASTER: periodic GARP, checked at advert time
        self._extra_at: float | None = None  # MASTER: garp_extra_if, checked at advert time
        self._preempt_at: float | None = None  # BACKUP: when a running preempt_delay ends

    # -- timers -------------------------------------------------------------------------------

    def master_down_interval_s(self) -> float:
        """Master_Down_Interval with the current priority and learned master interval."""
        p = self.params
        return us_to_s(
            master_down_us(
                p.version, self.effective_priority, self.master_adver_int_us, p.down_timer_adverts
            )
        )

    def skew_time_s(self) -> float:
        return us_to_s(
            skew_time_us(self.params.version, self.effective_priority, self.master_adver_int_us)
        )

    def _arm_master_down(self, now: float) -> None:
        p = self.params
        self._arm_backup(
            now,
            master_down_us(
                p.version, self.effective_priority, self.master_adver_int_us, p.down_timer_adverts
            ),
        )

    def _arm_backup(self, now: float, wait_us: int) -> None:
        """BACKUP's timer: ``wait_us`` from now, or from the end of ``vrrp_startup_delay``."""
        start = now
        if self._not_before is not None:
            if now < self._not_before:
                start = self._not_before
            else:
                self._not_before = None
        self._deadline = start + us_to_s(wait_us)

    def _master_tx(self, now: float) -> list[Action]:
        """RFC 5798 6.4.3: Adver_Timer fired; plus keepalived's periodic GARP refresh."""
        actions: list[Action] = [SendAdvert(priority=self.effective_priority)]
        p = self.params
        if self._refresh_at is not None and now >= self._refresh_at:
            actions.append(SendGratuitous(repeat=p.garp_master_refresh_repeat))
            self._refresh_at = now + p.garp_master_refresh_s
        if self._extra_at is not None and now >= self._extra_at:
            actions.append(SendExtraGratuitous())
            self._extra_at = now + p.garp_extra_if_s
        self._deadline = now + us_to_s(p.advert_int_us)
        return actions

    # -- receive ------------------------------------------------------------------------------

    def _reject(self, advert: AdvertReceived) -> Log | None:
        """Checks only the instance can make (the codec cannot know our version or interval)."""
        p = self.params
        if advert.version != p.version:
            text = f"wrong version. Received {advert.version} and expect {p.version}"
            return Log(message=f"({self.name}) {text}")
        if p.version == 2 and advert.advert_int_cs != p.advert_int_cs:
            mine, theirs = p.advert_int_cs // 100, advert.advert_int_cs // 100
            text = f"advertisement interval mismatch mine={mine} sec rcv'd={theirs} sec"
            return Log(message=f"({self.name}) {text}")
        if advert.advert_int_cs == 0 and advert.priority != PRIO_STOP:
            return Log(message=f"({self.name}) advertisement interval 0 received - ignoring")
        return None

    def _backup_rx(self, advert: AdvertReceived, now: float) -> list[Action]:
        """RFC 5798 6.4.2 "If an ADVERTISEMENT is received" with keepalived's preempt_delay."""
        if advert.priority == PRIO_STOP:
            p = self.params
            self._arm_backup(
                now, skew_time_us(p.version, self.effective_priority, self.master_adver_int_us)
            )
            message = f"({self.name}) Backup received priority 0 advertisement"
            return [Log(message=message, detail=True)]
        if self._accepts(advert, now):
            return self._follow(advert, now)
        # Preempt: ignore the lower-priority master; the Master_Down timer keeps running.
        self.master_ip = advert.source
        text = (
            f"received lower priority ({advert.priority}) advert from {advert.source} - discarding"
        )
        return [Log(message=f"({self.name}) {text}")]

    def _accepts(self, advert: AdvertReceived, now: float) -> bool:
        if self._held() or not self.params.preempt or advert.priority >= self.effective_priority:
            return True
        if not self.params.preempt_delay_us:
            return False
        return self._preempt_at is None or self._preempt_at > now

    def _follow(self, advert: AdvertReceived, now: float) -> list[Action]:
        """Accept ``advert``'s sender as master: learn its interval (v3), restart Master_Down."""
        actions = self._learn_interval(advert)
        self.master_ip = advert.source
        self.master_priority = advert.priority
        self.wants_master = False
        self._arm_master_down(now)
        delay_us = self.params.preempt_delay_us
        if not delay_us or self._held():
            return actions
        if advert.priority >= self.effective_priority:
            if self._preempt_at is not None:
                actions.append(Log(message=f"({self.name}) stop preempt delay", detail=True))
            self._preempt_at = None
        elif self._preempt_at is None:
            whole, frac = divmod(delay_us, US_PER_S)
            text = f"start preempt delay ({whole}.{frac:06d})"
            actions.append(Log(message=f"({self.name}) {text}", detail=True))
            self._preempt_at = now + us_to_s(delay_us)
        return actions

    def _learn_interval(self, advert: AdvertReceived) -> list[Action]:
        """RFC 5798 6.4.2: set Master_Adver_Interval to the advert's (v3 only)."""
        learned = advert.advert_int_cs * US_PER_CS
        if self.params.version != 3 or learned == self.master_adver_int_us:
            return []
        old_ms, new_ms = self.master_adver_int_us // 1000, learned // 1000
        self.master_adver_int_us = learned
        text = f"advertisement interval updated from {old_ms}ms to {new_ms}ms by master"
        return [Log(message=f"({self.name}) {text}", detail=True)]

    def _master_rx(self, advert: AdvertReceived, now: float) -> list[Action]:
        """RFC 5798 6.4.3 "If an ADVERTISEMENT is received", keepalived ``vrrp_state_master_rx``."""
        ours = self.effective_priority
        cmp = _addr_cmp(advert.source, self.params.primary_ip)
        better = advert.priority > ours or (advert.priority == ours and cmp > 0)
        actions: list[Action] = []
        if advert.priority == PRIO_STOP or (self.params.higher_prio_send_advert and better):
            actions += self._send_now(now)
            if advert.priority == PRIO_STOP:
                message = f"({self.name}) Master received priority 0 message"
                return [*actions, Log(message=message, detail=True)]
        if advert.priority == ours:
            actions += self._equal_priority(cmp)
            ours = self.effective_priority
            better = advert.priority > ours or (advert.priority == ours and cmp > 0)
        if advert.priority < ours or (advert.priority == ours and cmp < 0):
            return actions + self._lower_rx(advert, now)
        if better:
            return actions + self._higher_rx(advert, now)
        return actions

    def _equal_priority(self, cmp: int) -> list[Action]:
        """Our own address echoed back, or two address owners (the receiver yields to 254)."""
        if cmp == 0:
            text = "WARNING - equal priority advert received from remote host with our IP address."
            return [Log(message=f"({self.name}) {text}")]
        if self.effective_priority != PRIO_OWNER:
            return []
        self._owner_demoted = True
        self.effective_priority = PRIO_OWNER - 1
        text = (
            "CONFIGURATION ERROR: local instance and a remote instance are both configured as"
            " address owner, please fix - reducing local priority"
        )
        # keepalived changes the priority silently here: no "Changing effective priority" line,
        # no priority notify; snapshots show the new value.
        return [Log(message=f"({self.name}) {text}")]

    def _lower_rx(self, advert: AdvertReceived, now: float) -> list[Action]:
        """A lower-priority router thinks it is master: answer so it yields (keepalived)."""
        p = self.params
        forcing = "" if p.lower_prio_no_advert else ", forcing new election"
        text = (
            f"Received advert from {advert.source} with lower priority {advert.priority},"
            f" ours {self.effective_priority}{forcing}"
        )
        actions: list[Action] = [Log(message=f"({self.name}) {text}")]
        if not p.lower_prio_no_advert:
            actions += self._send_now(now)
        if p.garp_lower_prio_repeat:
            actions.append(SendGratuitous(repeat=p.garp_lower_prio_repeat))
            if p.garp_lower_prio_delay_s:
                when = now + p.garp_lower_prio_delay_s
                self._garps.append((when, p.garp_lower_prio_repeat))
        actions.append(MasterRxLowerPriority(source=advert.source))
        return actions

    def _higher_rx(self, advert: AdvertReceived, now: float) -> list[Action]:
        """A better master exists: learn its interval and priority, then become BACKUP."""
        if advert.priority > self.effective_priority:
            text = (
                f"Master received advert from {advert.source} with higher priority"
                f" {advert.priority}, ours {self.effective_priority}"
            )
        else:
            text = (
                f"Master received advert from {advert.source} with same priority"
                f" {advert.priority} but higher IP address than ours"
            )
        actions: list[Action] = [Log(message=f"({self.name}) {text}")]
        actions += self._learn_interval(advert)
        self.master_ip = advert.source
        self.master_priority = advert.priority
        self.wants_master = False
        return actions + self._yield_to(text, now)

    def _send_now(self, now: float) -> list[Action]:
        """Send an advert out of turn; the next regular one is an interval later."""
        self._deadline = now + us_to_s(self.params.advert_int_us)
        return [SendAdvert(priority=self.effective_priority)]

    def _yield_to(self, reason: str, now: float) -> list[Action]:
        raise NotImplementedError

    def _held(self) -> bool:
        """A mastership hold is on: follow any master, never preempt (``Instance`` says)."""
        return False


def _addr_cmp(theirs: IPv4Address | IPv6Address, ours: IPv4Address | IPv6Address) -> int:
    """keepalived ``vrrp_saddr_cmp``: -1/0/1 by numeric address; 0 across families."""
    if theirs.version != ours.version:
        return 0
    return (int(theirs) > int(ours)) - (int(theirs) < int(ours))
