"""The VRRP state machine of one instance: RFC 5798 section 6.4 with keepalived 2.2.7's ways.

Rules: sans-I/O. Inputs are decoded adverts, timer expiries, tracking verdicts, all with an
injected ``now`` (seconds, monotonic); outputs are lists of actions (``events.py``) the driver
performs in order. No socket, no clock, no asyncio, no knowledge of the packet codec or of the
config file. Every state change goes through ``states.check_transition``.

Where keepalived differs from or extends the RFC, keepalived wins (see ``vrrp.c``,
``vrrp_scheduler.c``); each such place says so. The most visible ones:

- Start: an address owner (priority 255) with ``state MASTER`` becomes MASTER at once; every other
  instance starts in BACKUP and waits a full Master_Down_Interval (so ``state MASTER`` without
  priority 255 only means "nopreempt/preempt_delay do not apply").
- A MASTER hearing a lower-priority advert answers with its own advert at once ("forcing new
  election") unless ``lower_prio_no_advert``; a MASTER hearing a priority 0 advert answers too.
- ``preempt_delay``: a BACKUP keeps accepting a lower-priority master's adverts for
  ``preempt_delay`` seconds after the first one, then ignores them and lets its timer run out.
- Two address owners: the MASTER that hears the other lowers itself to 254 and yields.
"""

from collections.abc import Callable
from dataclasses import replace

from pykeepalived.vrrp.election import Election
from pykeepalived.vrrp.events import (
    Action,
    AddVips,
    AdvertReceived,
    InstanceSnapshot,
    Log,
    PriorityChanged,
    RemoveVips,
    SendAdvert,
    SendGratuitous,
    StateChanged,
)
from pykeepalived.vrrp.hold import Hold
from pykeepalived.vrrp.params import InstanceParams
from pykeepalived.vrrp.states import State, check_transition
from pykeepalived.vrrp.timing import PRIO_OWNER, PRIO_STOP, skew_time_us, us_to_s


class Instance(Election):
    """One ``vrrp_instance``: ``start``, then feed ``handle_advert`` / ``handle_timer``.

    ``master_gate``, when set (by a sync group), is asked before a timer-driven move to MASTER;
    if it says no, the instance stays BACKUP with ``wants_master`` set, as keepalived's
    ``vrrp_sync_can_goto_master`` does.
    """

    def __init__(self, params: InstanceParams) -> None:
        super().__init__(params)
        self.master_gate: Callable[[], bool] | None = None
        self._faults: dict[str, str] = {}
        self._pending: set[str] = set()  # holders whose hold is only "no result yet"
        self._holds: dict[str, Hold] = {}  # mastership holds (hold.py): stay BACKUP
        self._held_warned = False  # "no master heard, but held" logged once per hold

    # -- public API ---------------------------------------------------------------------------

    @property
    def faults(self) -> dict[str, str]:
        """Who holds this instance in FAULT, and why (a copy)."""
        return dict(self._faults)

    @property
    def only_pending(self) -> bool:
        """Held in FAULT only by trackers without a result yet (keepalived's script init)."""
        return bool(self._faults) and set(self._faults) <= self._pending

    def start(self, now: float, *, fast: bool = False) -> list[Action]:
        """Leave INIT (keepalived ``vrrp_init_state``).

        ``fast``: a sync-group member configured ``state MASTER`` whose group starts BACKUP waits
        only one advert interval plus the minimal skew, so it learns of any existing master first.
        """
        if self.state is not State.INIT:
            raise RuntimeError(f"({self.name}) start() twice")
        p = self.params
        if p.startup_delay_s:
            self._not_before = now + p.startup_delay_s
        if self._faults:
            message = f"({self.name}) entering FAULT state"  # keepalived vrrp_complete_init
            return [self._transition(State.FAULT, self._fault_text(), message=message)]
        owner_master = p.is_address_owner and p.initial_state is State.MASTER
        if owner_master and self._not_before is None and self._gate_open():
            # keepalived gets there through a 1 us BACKUP timeout, hence its log line
            timeout = Log(message=f"({self.name}) Receive advertisement timeout", detail=True)
            return [timeout, *self._become_master(now, "address owner with initial state MASTER")]
        action = self._transition(State.BACKUP, "initial state", suffix=" (init)")
        adv = self.master_adver_int_us
        if owner_master and self._gate_open():
            self._arm_backup(now, 1)  # keepalived: "timeout from backup very quickly (1 usec)"
        elif fast and p.initial_state is State.MASTER:
            self._arm_backup(now, adv + skew_time_us(p.version, 255, adv))
        else:
            self._arm_master_down(now)
        return [action]

    def resume(self, previous: State, now: float) -> list[Action]:
        """Leave INIT into the state a predecessor had, after a config reload.

        keepalived ``restore_vrrp_state``: a reloaded MASTER stays MASTER without waiting and
        advertises at once (its VIPs are still configured; the daemon reconciles any change); a
        reloaded BACKUP stays BACKUP with a fresh Master_Down timer. No notify scripts run.
        """
        if self.state is not State.INIT:
            raise RuntimeError(f"({self.name}) resume() after start")
        if self._faults or previous not in (State.MASTER, State.BACKUP):
            return self.start(now)
        changed = self._transition(previous, "reload", message=f"({self.name}) Reloaded")
        resumed = replace(changed, resumed=True)
        if previous is State.BACKUP:
            self._arm_master_down(now)
            return [resumed]
        self.wants_master = True
        self.master_ip, self.master_priority = self.params.primary_ip, self.effective_priority
        self._deadline = now + us_to_s(self.params.advert_int_us)
        return [resumed, SendAdvert(priority=self.effective_priority)]

    def snapshot(self) -> InstanceSnapshot:
        """A frozen view for readers; they never see the live object."""
        return InstanceSnapshot(
            name=self.name,
            virtual_router_id=self.params.virtual_router_id,
            state=self.state,
            base_priority=self.params.priority,
            effective_priority=self.effective_priority,
            wants_master=self.wants_master,
            master_ip=self.master_ip,
            master_priority=self.master_priority,
            master_adver_int_s=us_to_s(self.master_adver_int_us),
            faults=tuple(sorted(self._faults.items())),
            next_timer=self.get_timer(),
            holds=tuple(self._holds.values()),
        )

    def get_timer(self) -> float | None:
        """The next instant ``handle_timer`` must be called at, or None."""
        timers = [when for when, _ in self._garps]
        timers += [h.until for h in self._holds.values() if h.until is not None]
        if self._deadline is not None:
            timers.append(self._deadline)
        return min(timers) if timers else None

    def handle_timer(self, now: float) -> list[Action]:
        """Run every timer due at ``now``; calling early is harmless."""
        actions: list[Action] = []
        for hold in [h for h in self._holds.values() if h.until is not None and h.until <= now]:
            actions += self.release_backup(hold.holder, now, expired=True)
        due = [repeat for when, repeat in self._garps if when <= now]
        self._garps = [(when, repeat) for when, repeat in self._garps if when > now]
        if self.state is State.MASTER:
            actions += [SendGratuitous(repeat=repeat) for repeat in due]
        if self._deadline is not None and now >= self._deadline:
            if self.state is State.BACKUP:
                actions.append(
                    Log(message=f"({self.name}) Receive advertisement timeout", detail=True)
                )
                actions += self._master_down_expired(now)
            elif self.state is State.MASTER:
                actions += self._master_tx(now)
        return actions

    def handle_advert(self, advert: AdvertReceived, now: float) -> list[Action]:
        """An advert for our VRID arrived (already decoded and authenticated)."""
        if advert.vrid != self.params.virtual_router_id:
            raise ValueError(f"({self.name}) advert for VRID {advert.vrid} routed to us")
        if self.state not in (State.BACKUP, State.MASTER):
            return []  # keepalived ignores adverts in FAULT and INIT
        rejected = self._reject(advert)
        if rejected is not None:
            return [rejected]
        if self.state is State.BACKUP:
            return self._backup_rx(advert, now)
        return self._master_rx(advert, now)

    def set_priority(self, priority: int, now: float) -> list[Action]:
        """Apply an effective priority computed by tracking (``tracking.py``).

        In BACKUP the Master_Down deadline moves by the change in skew time, so a priority change
        neither restarts nor forgets the wait (keepalived ``vrrp_set_effective_priority``).
        """
        if not 1 <= priority <= PRIO_OWNER:
            raise ValueError(f"({self.name}) effective priority {priority} outside 1..255")
        if self._owner_demoted:
            priority = min(priority, PRIO_OWNER - 1)
        old = self.effective_priority
        if priority == old:
            return []
        p, adv = self.params, self.master_adver_int_us
        self.effective_priority = priority
        if self.state is State.BACKUP and self._deadline is not None:
            delta = skew_time_us(p.version, priority, adv) - skew_time_us(p.version, old, adv)
            self._deadline = max(now, self._deadline + us_to_s(delta))
        message = f"({self.name}) Changing effective priority from {old} to {priority}"
        master = self.state is State.MASTER
        return [PriorityChanged(old=old, new=priority, message=message, master=master)]

    def hold_fault(
        self,
        holder: str,
        reason: str,
        now: float,
        *,
        pending: bool = False,
        by_group: bool = False,
    ) -> list[Action]:
        """``holder`` (tracking, a sync group...) says we must be in FAULT, because ``reason``.

        ``pending``: not a failure but a tracker with no result yet (keepalived's script init
        state); it holds the instance down without forgetting that it wants to be MASTER, so an
        address owner whose first script result is OK goes MASTER at once.
        ``by_group``: a sync group follows another member (keepalived ``vrrp_sync_fault``): a
        MASTER sends priority 0 once, not twice, and a BACKUP changes without a log line.
        """
        first = not self._faults
        was_real = bool(set(self._faults) - self._pending)
        self._faults[holder] = reason
        if pending:
            self._pending.add(holder)
        else:
            self._pending.discard(holder)
            if not was_real:
                self.wants_master = False  # keepalived down_instance: wantstate FAULT
        if not first or self.state in (State.INIT, State.STOP, State.DELETED, State.FAULT):
            return []
        if self.state is State.MASTER:
            return self._leave_master(State.FAULT, reason, now, stops=1 if by_group else 2)
        self._deadline = None
        self._preempt_at = None
        return [self._transition(State.FAULT, reason, message="" if by_group else None)]

    def release_fault(self, holder: str, now: float) -> list[Action]:
        """``holder`` no longer holds us in FAULT; the last release brings us up."""
        self._pending.discard(holder)
        if self._faults.pop(holder, None) is None or self._faults:
            return []
        if self.state is not State.FAULT:
            return []
        return self._leave_fault(now)

    def hold_backup(self, hold: Hold, now: float) -> list[Action]:
        """``hold.holder`` says this instance must not be MASTER (the API's release-master).

        A MASTER leaves as on a graceful stop: one priority 0 advert (the backups take over after
        their skew time, not a Master_Down_Interval), VIPs removed, then BACKUP. Held, it follows
        any master it hears, even a lower-priority one (no preemption), does not take over when
        the master goes silent, and a sync group cannot pull it up. Other states only record it.
        """
        self._holds[hold.holder] = hold
        span = f" for {hold.until - hold.since:g} s" if hold.until is not None else ""
        held = Log(message=f"({self.name}) Mastership held by {hold.holder}{span} ({hold.reason})")
        if self.state is not State.MASTER:
            return [held]
        zero: list[Action] = [SendAdvert(priority=PRIO_STOP), self._sent_zero()]
        reason = f"mastership released by {hold.holder}"
        return [held, *zero, *self._leave_master(State.BACKUP, reason, now, suffix=reason)]

    def release_backup(self, holder: str, now: float, *, expired: bool = False) -> list[Action]:
        """Lift ``holder``'s hold; with none left the instance is back in the election (a higher
        priority with preempt takes mastership back within a Master_Down_Interval)."""
        if self._holds.pop(holder, None) is None:
            return []
        text = f"({self.name}) Mastership hold by {holder} {'expired' if expired else 'lifted'}"
        if self._holds:
            return [Log(message=f"{text}; still held by {', '.join(self._holds)}")]
        self._held_warned = False
        return [Log(message=f"{text}: back in the election")]

    def shutdown(self, now: float) -> list[Action]:
        """Stop: a MASTER sends priority 0 (peers take over after skew time) and drops its VIPs."""
        return self._end(State.STOP, "shutdown", f"({self.name}) Stopped")

    def delete(self, now: float) -> list[Action]:
        """Removed from the configuration by a reload (keepalived ``clear_diff_vrrp``): like a
        shutdown, then DELETED (notify ``DELETED``, or ``FAULT`` without ``notify_deleted``)."""
        return self._end(State.DELETED, "removed by reload", "")

    def _end(self, final: State, reason: str, message: str) -> list[Action]:
        if self.state in (State.STOP, State.DELETED):
            return []
        actions: list[Action] = []
        if self.state is State.MASTER:
            actions += [SendAdvert(priority=PRIO_STOP), self._sent_zero(), RemoveVips()]
        self._deadline = None
        self._garps = []
        actions.append(self._transition(final, reason, message=message))
        return actions

    # -- used by sync groups ------------------------------------------------------------------

    def force_master(self, reason: str, now: float) -> list[Action]:
        """A sync-group peer went MASTER: follow it at once (keepalived ``vrrp_sync_master``)."""
        if self.state is not State.BACKUP or self._holds:
            return []
        return self._become_master(now, reason)

    def force_backup(self, reason: str, now: float) -> list[Action]:
        """A sync-group peer left MASTER: follow it (keepalived ``vrrp_sync_backup``)."""
        if self.state is not State.MASTER:
            return []
        return self._leave_master(State.BACKUP, reason, now)

    # -- transitions --------------------------------------------------------------------------

    def _gate_open(self) -> bool:
        return not self._holds and (self.master_gate is None or self.master_gate())

    def _held(self) -> bool:
        return bool(self._holds)

    def _master_down_expired(self, now: float) -> list[Action]:
        """RFC 5798 6.4.2: Master_Down_Timer fired; a hold or a sync group may keep us back."""
        if self._holds:
            self._arm_master_down(now)
            if self._held_warned:
                return []
            self._held_warned = True
            holders = ", ".join(self._holds)
            text = f"No master heard, but mastership is held by {holders}: staying BACKUP"
            return [Log(message=f"({self.name}) {text}")]
        self.wants_master = True
        if not self._gate_open():
            self._arm_master_down(now)
            return []
        return self._become_master(now, "master down timer expired")

    def _become_master(self, now: float, reason: str) -> list[Action]:
        """Advert first (the old master drops its VIPs before our GARPs), then VIPs and GARP."""
        self.wants_master = True
        p = self.params
        logs: list[Action] = []
        if p.version == 3 and self.master_adver_int_us != p.advert_int_us:
            text = (
                f"changing advert interval from {self.master_adver_int_us // 1000}ms"
                f" to locally configured {p.advert_int_us // 1000}ms"
            )
            logs.append(Log(message=f"({self.name}) {text}", detail=True))
        self.master_adver_int_us = p.advert_int_us
        self.master_ip = p.primary_ip
        self.master_priority = self.effective_priority
        self._preempt_at = None
        changed = self._transition(State.MASTER, reason)
        self._deadline = now + us_to_s(p.advert_int_us)
        self._garps = [(now + p.garp_master_delay_s, p.garp_master_repeat)]
        if not p.garp_master_delay_s:
            self._garps = []
        self._refresh_at = now + p.garp_master_refresh_s if p.garp_master_refresh_s else None
        self._extra_at = now + p.garp_extra_if_s if p.garp_extra_if_s else None
        return [
            SendAdvert(priority=self.effective_priority),
            changed,
            *logs,
            AddVips(),
            SendGratuitous(repeat=p.garp_master_repeat),
        ]

    def _leave_master(
        self, new: State, reason: str, now: float, *, stops: int = 2, suffix: str = ""
    ) -> list[Action]:
        """MASTER -> BACKUP (a better master, a hold) or FAULT (tracking): drop VIPs, arm timers."""
        self._garps = []
        self._refresh_at = None
        self._extra_at = None
        self._preempt_at = None
        self.wants_master = False  # keepalived: wantstate BACKUP or FAULT
        changed = self._transition(new, reason, suffix=f" ({suffix})" if suffix else "")
        if new is State.FAULT:
            # keepalived sends priority 0 twice on its own fault (vrrp_state_leave_master, then
            # vrrp_restore_interface), once when its sync group drags it; a peer sees each.
            self._deadline = None
            sent: list[Action] = [SendAdvert(priority=PRIO_STOP)] * stops
            if stops > 1:
                sent.append(self._sent_zero())
            return [changed, *sent, RemoveVips()]
        self._arm_master_down(now)
        return [changed, RemoveVips()]

    def _leave_fault(self, now: float) -> list[Action]:
        """keepalived ``try_up_instance``: only an address owner that still wants MASTER (it was
        held by trackers without results, never by a failure) goes straight to MASTER; anything
        else, owners included, comes back as BACKUP with a full Master_Down wait."""
        p = self.params
        self.master_adver_int_us = p.advert_int_us
        owner_master = p.is_address_owner and self.wants_master
        self.wants_master = owner_master
        if owner_master and self._gate_open():
            return self._become_master(now, "fault cleared (address owner)")
        changed = self._transition(State.BACKUP, "fault cleared")
        if owner_master:
            skew = skew_time_us(p.version, self.effective_priority, p.advert_int_us)
            self._arm_backup(now, p.advert_int_us + skew)
        else:
            self._arm_master_down(now)
        return [changed]

    def _transition(
        self, new: State, reason: str, *, suffix: str = "", message: str | None = None
    ) -> StateChanged:
        """The only place ``state`` changes; the table is checked first."""
        check_transition(self.name, self.state, new)
        old, self.state = self.state, new
        if message is None:
            message = f"({self.name}) Entering {new.value} STATE{suffix}"
        return StateChanged(old=old, new=new, reason=reason, message=message)

    def _sent_zero(self) -> Log:
        return Log(message=f"({self.name}) sent 0 priority", detail=True)

    def _fault_text(self) -> str:
        return "; ".join(self._faults.values())

    # hooks used by Election
    def _yield_to(self, reason: str, now: float) -> list[Action]:
        return self._leave_master(State.BACKUP, reason, now)
