"""VRRP sync groups: member instances that move together (keepalived ``vrrp_sync_group``).

Rules: pure, like the instance core; it owns its member ``Instance`` objects and routes every
input through them, then applies the group's consequences (keepalived ``vrrp_sync.c`` and the
TSM table in ``vrrp_scheduler.c``):

- one member going MASTER pulls every BACKUP member to MASTER (``vrrp_sync_master``);
- a member leaving MASTER for BACKUP pushes the other masters to BACKUP (``vrrp_sync_backup``);
- a fault in one member faults them all (``vrrp_sync_fault``); the group leaves FAULT only when no
  member has a fault of its own left;
- a member whose Master_Down timer fires becomes MASTER only if the group already is, or if every
  other member also wants MASTER (``vrrp_sync_can_goto_master``): "prefer backup to thrashing".

Tracking weights of members are the daemon's business: keepalived sets them to 0 for sync-group
members unless ``sync_group_tracking_weight`` is set, so members never disagree on priority.

Outputs are ``Tagged`` actions: the instance (or group) name they belong to, and the action.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial

from pykeepalived.vrrp.events import Action, AdvertReceived, StateChanged
from pykeepalived.vrrp.hold import Hold
from pykeepalived.vrrp.instance import Instance
from pykeepalived.vrrp.states import State, check_transition
from pykeepalived.vrrp.tracking import TRACKING_HOLDER, Verdict


@dataclass(frozen=True, slots=True, kw_only=True)
class Tagged:
    """An action and who it is for: a member instance's name, or the group's for group events."""

    source: str
    action: Action


class SyncGroup:
    """One ``vrrp_sync_group`` over already-built member instances (at least one)."""

    def __init__(self, name: str, members: list[Instance]) -> None:
        if not members:
            raise ValueError(f"sync group {name} has no member")
        if len({m.name for m in members}) != len(members):
            raise ValueError(f"sync group {name} lists an instance twice")
        self.name = name
        self.state = State.INIT
        self._members = {m.name: m for m in members}
        self._holder = f"sync_group:{name}"
        self._held_pending = False  # the group's hold on members is only "no result yet"
        for member in members:
            member.master_gate = partial(self.can_goto_master, member)

    @property
    def members(self) -> list[Instance]:
        return list(self._members.values())

    def member(self, name: str) -> Instance:
        return self._members[name]

    # -- inputs -------------------------------------------------------------------------------

    def start(self, now: float) -> list[Tagged]:
        """Group state first (keepalived ``vrrp_sync_set_group``), then each member."""
        owners = all(m.params.is_address_owner and m.wants_master for m in self.members)
        out: list[Tagged] = []
        faulty = [m for m in self.members if m.faults]
        if faulty:
            # keepalived initialise_tracking_priorities' wording
            text = f"VRRP_Group({self.name}): Syncing {faulty[0].name} to FAULT state"
            out += self._group_to(State.FAULT, "a member is faulty at start", text)
            self._held_pending = all(m.only_pending for m in faulty)
            why = "sync group member faulty"
            for m in self.members:
                held = m.hold_fault(self._holder, why, now, pending=self._held_pending)
                out += self._tag(m, held)
        else:  # keepalived logs nothing here (it only notifies)
            out += self._group_to(State.MASTER if owners else State.BACKUP, "start", "")
        for m in self.members:
            out += self._tag(m, m.start(now, fast=self.state is State.BACKUP))
        return out

    def resume(self, previous: Mapping[str, State], now: float) -> list[Tagged]:
        """After a reload, carry on in the state a predecessor ran (keepalived
        ``restore_vrrp_state``; its group keeps ``state_same_at_reload``, so no group notify).

        ``previous`` holds the members taken over, all in one state, MASTER or BACKUP; they
        resume in it and the group with them. A member new to the group (or that had to
        start again) joins the group's state: pulled up to MASTER at once when the group is
        MASTER, as keepalived's sync rules would. Anything else (members disagreeing, a member
        faulty now) starts the group afresh.
        """
        states = {previous[m.name] for m in self.members if m.name in previous}
        faulty = any(m.faults for m in self.members)
        if faulty or len(states) != 1 or not states <= {State.MASTER, State.BACKUP}:
            return self.start(now)
        (state,) = states
        check_transition(f"VRRP_Group({self.name})", self.state, state)
        old, self.state = self.state, state
        text = f"VRRP_Group({self.name}) Reloaded in {state.value} state"
        changed = StateChanged(old=old, new=state, reason="reload", message=text, resumed=True)
        out = [Tagged(source=self.name, action=changed)]
        joined = [m for m in self.members if m.name not in previous]
        for m in self.members:
            if m.name in previous:
                out += self._tag(m, m.resume(state, now))
            else:
                out += self._tag(m, m.start(now, fast=state is State.BACKUP))
        if state is State.MASTER:
            reason = f"joined sync group {self.name}, which is MASTER"
            for m in joined:
                out += self._tag(m, m.force_master(reason, now))
        return out

    def get_timer(self) -> float | None:
        timers = [t for t in (m.get_timer() for m in self.members) if t is not None]
        return min(timers) if timers else None

    def handle_timer(self, now: float) -> list[Tagged]:
        out: list[Tagged] = []
        for m in self.members:
            timer = m.get_timer()
            if timer is not None and timer <= now:
                out += self._after(m, m.handle_timer(now), now)
        return out

    def handle_advert(self, member: str, advert: AdvertReceived, now: float) -> list[Tagged]:
        m = self._members[member]
        return self._after(m, m.handle_advert(advert, now), now)

    def set_priority(self, member: str, priority: int, now: float) -> list[Tagged]:
        m = self._members[member]
        return self._after(m, m.set_priority(priority, now), now)

    def hold_fault(
        self, member: str, holder: str, reason: str, now: float, *, pending: bool = False
    ) -> list[Tagged]:
        """A member's own tracking says FAULT: the whole group follows.

        ``pending`` (no tracker result yet) holds the others as pending too, so they keep
        wanting MASTER (keepalived ``num_member_init``); a real fault makes them give that up
        (keepalived ``vrrp_sync_fault`` sets every member's wantstate to FAULT).
        """
        m = self._members[member]
        out = self._tag(m, m.hold_fault(holder, reason, now, pending=pending))
        if self.state is State.FAULT and (pending or not self._held_pending):
            return out
        if self.state is not State.FAULT:
            out += self._group_to(State.FAULT, f"{member}: {reason}")
        self._held_pending = pending
        why = f"sync group {self.name} member {member} in FAULT"
        for other in self.members:
            held = other.hold_fault(self._holder, why, now, pending=pending, by_group=True)
            out += self._tag(other, held)
        return out

    def release_fault(self, member: str, holder: str, now: float) -> list[Tagged]:
        """A member's own fault cleared; the group comes up when no member has one left.

        keepalived's order: that member comes up first, then "Syncing instances to BACKUP
        state", then the others; the group rules (a MASTER pulling the rest) apply after all.
        """
        m = self._members[member]
        out = self._tag(m, m.release_fault(holder, now))
        if self.state is not State.FAULT or any(self._own_faults(x) for x in self.members):
            return out
        first = m.release_fault(self._holder, now)
        out += self._tag(m, first)
        out += self._group_to(State.BACKUP, "no member faulty")
        released = [(m, first)]
        for other in self.members:
            if other is not m:
                actions = other.release_fault(self._holder, now)
                out += self._tag(other, actions)
                released.append((other, actions))
        for other, actions in released:
            out += self._consequences(other, actions, now)
        return out

    def apply_verdict(self, member: str, result: Verdict, now: float) -> list[Tagged]:
        """Tracking of one member (see ``tracking.apply_verdict``), with the group following."""
        out = self.set_priority(member, result.priority, now)
        if result.faults or result.pending:
            reason = "; ".join(result.faults + result.pending)
            pending = not result.faults
            return out + self.hold_fault(member, TRACKING_HOLDER, reason, now, pending=pending)
        return out + self.release_fault(member, TRACKING_HOLDER, now)

    def hold_backup(self, member: str, hold: Hold, now: float) -> list[Tagged]:
        """A mastership hold on one member holds the whole group (it moves as one): every
        MASTER member releases (priority 0), then the group follows them to BACKUP."""
        if member not in self._members:
            raise KeyError(member)
        done = [(m, m.hold_backup(hold, now)) for m in self.members]
        out = [t for m, actions in done for t in self._tag(m, actions)]
        for m, actions in done:
            out += self._consequences(m, actions, now)
        return out

    def release_backup(self, member: str, holder: str, now: float) -> list[Tagged]:
        if member not in self._members:
            raise KeyError(member)
        return [t for m in self.members for t in self._tag(m, m.release_backup(holder, now))]

    def shutdown(self, now: float) -> list[Tagged]:
        out: list[Tagged] = []
        for m in self.members:
            out += self._tag(m, m.shutdown(now))
        if self.state is not State.STOP:
            out += self._group_to(State.STOP, "shutdown")
        return out

    # -- group rules --------------------------------------------------------------------------

    def can_goto_master(self, member: Instance) -> bool:
        """keepalived ``vrrp_sync_can_goto_master``: only when everyone wants to."""
        if self.state is State.MASTER:
            return True
        return all(
            other.wants_master and other.state is not State.FAULT
            for other in self.members
            if other is not member
        )

    def _after(self, member: Instance, actions: list[Action], now: float) -> list[Tagged]:
        return self._tag(member, actions) + self._consequences(member, actions, now)

    def _consequences(self, member: Instance, actions: list[Action], now: float) -> list[Tagged]:
        """Apply the TSM: MASTER pulls the others up, leaving MASTER pushes them down."""
        out: list[Tagged] = []
        for action in actions:
            if not isinstance(action, StateChanged):
                continue
            if action.new is State.MASTER and self.state is not State.MASTER:
                out += self._sync(State.MASTER, member, now)
            elif action.old is State.MASTER and action.new is State.BACKUP:
                out += self._sync(State.BACKUP, member, now)
        return out

    def _sync(self, target: State, origin: Instance, now: float) -> list[Tagged]:
        if self.state is State.FAULT:
            return []
        out = self._group_to(target, f"{origin.name} entered {target.value}")
        reason = f"sync group {self.name} following {origin.name}"
        for other in self.members:
            if other is origin:
                continue
            if target is State.MASTER:
                out += self._tag(other, other.force_master(reason, now))
            else:
                out += self._tag(other, other.force_backup(reason, now))
        return out

    def _group_to(self, new: State, reason: str, message: str | None = None) -> list[Tagged]:
        if new is self.state:
            return []
        check_transition(f"VRRP_Group({self.name})", self.state, new)
        old, self.state = self.state, new
        if message is None:
            message = f"VRRP_Group({self.name}) Syncing instances to {new.value} state"
        changed = StateChanged(old=old, new=new, reason=reason, message=message)
        return [Tagged(source=self.name, action=changed)]

    def _own_faults(self, member: Instance) -> dict[str, str]:
        return {k: v for k, v in member.faults.items() if k != self._holder}

    @staticmethod
    def _tag(member: Instance, actions: list[Action]) -> list[Tagged]:
        return [Tagged(source=member.name, action=a) for a in actions]
