"""The BGP half of an active-active director: the announcement core driving a speaker.

Rules: asyncio glue (L4) between ``LvsSide`` and a ``Speaker``. ``LvsSide`` calls
``before_apply`` with the new health *before* it changes the data plane (withdrawals are sent
and awaited, bounded), and ``after_apply`` once the data plane holds the table (announcements
go out from our own task: a speaker still starting never holds up the data plane). ``stop``
withdraws everything and stops the speaker; ``LvsSide`` calls it before it removes its data
plane, on a graceful stop and on any fatal error alike. Every action is logged with the time
it took and added to the event log.
"""

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from pykeepalived.bgp.announce import Action, Announcer, Verb, rules_from_config
from pykeepalived.bgp.speaker import Speaker, SpeakerError
from pykeepalived.clock import Clock
from pykeepalived.config.model import KeepalivedConfig
from pykeepalived.state import BgpPrefixView, EventLog

log = logging.getLogger("pykeepalived.bgp")
WITHDRAW_TIMEOUT_S = 2.0
RETRY_S = 1.0
STOP_GRACE_S = 0.3  # after the withdrawals of a stop, before the data plane goes


@dataclass
class BgpSide:
    config: KeepalivedConfig
    speaker: Speaker
    clock: Clock
    events: EventLog = field(default_factory=EventLog)
    core: Announcer = field(init=False)
    _quorum: Mapping[str, bool] = field(default_factory=dict)
    _failed: frozenset[str] = frozenset()
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _retry_at: float | None = None
    _applied: bool = False  # the data plane has been programmed once
    _sent: set[str] = field(default_factory=set)  # what the engine was told is announced
    _why: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        speaker = self.config.bgp_speaker
        assert speaker is not None
        self.core = Announcer(rules_from_config(self.config), speaker.announce_delay)
        known = {vs.id for vs in self.config.virtual_server}
        for rule in self.core.rules:
            missing = [vs for vs in rule.virtual_servers if vs not in known]
            if rule.gate != "always" and not rule.virtual_servers:
                log.warning("BGP: no virtual_server on %s: it is never announced", rule.prefix)
            for vs in missing:
                log.warning("BGP: %s is gated by unknown virtual server %s", rule.prefix, vs)

    @property
    def prefixes(self) -> list[str]:
        return [rule.prefix for rule in self.core.rules]

    def reload(self, config: KeepalivedConfig) -> str:
        """New announce rules and gates; the next reconcile applies them (a VIP that left the
        list is withdrawn then). The engine's own settings need a restart."""
        new = config.bgp_speaker
        old = self.config.bgp_speaker
        assert old is not None
        if new is None:
            log.warning("BGP: bgp_speaker removed by a reload: restart to stop announcing")
            return "; bgp: bgp_speaker removed, restart needed"
        rules = rules_from_config(config)
        note = ""
        if replace(new, announce=None) != replace(old, announce=None):
            log.warning("BGP: speaker settings changed; they take effect at the next restart")
            note = " (speaker settings need a restart)"
        known = set(self.prefixes)
        if self.speaker.name == "bird" and any(r.prefix not in known for r in rules):
            log.warning("BGP: BIRD learns new VIPs at the next restart")
            rules = tuple(r for r in rules if r.prefix in known)
        self.core.rules = rules
        self.config = replace(config, bgp_speaker=old)  # the running engine settings
        self._wake.set()
        return f"; bgp: {len(rules)} announce rule(s){note}"

    def views(self) -> tuple[BgpPrefixView, ...]:
        return tuple(
            BgpPrefixView(prefix=r.prefix, gate=r.gate, virtual_servers=r.virtual_servers,
                          announced=r.prefix in self._sent, speaker=self.speaker.name)
            for r in self.core.rules
        )  # fmt: skip

    async def start(self) -> None:
        await self.speaker.start()
        self.events.add("bgp", f"{self.speaker.name} started for {', '.join(self.prefixes)}")

    async def before_apply(self, quorum_up: Mapping[str, bool]) -> None:
        actions = self.core.before_apply(quorum_up, self.clock.now())
        self._quorum = dict(quorum_up)
        if actions:
            await self._bounded(actions)

    def after_apply(self, quorum_up: Mapping[str, bool], failed: Iterable[str] = ()) -> None:
        self._quorum, self._failed = dict(quorum_up), frozenset(failed)
        self._applied = True
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Send announcements when the data plane is ready, and again after a settle delay
        or a failed command."""
        while not stop.is_set():
            self._wake.clear()
            if self._applied:
                actions = self.core.after_apply(self._quorum, self.clock.now(), self._failed)
                await self._execute(actions)
            await self._sleep(stop)

    async def _sleep(self, stop: asyncio.Event) -> None:
        now = self.clock.now()
        deadlines = [t for t in (self.core.next_deadline(now), self._retry_at) if t is not None]
        timeout = max(0.0, min(deadlines) - now) if deadlines else None
        self._retry_at = None
        waiters = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())]
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        for task in waiters:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def stop(self, why: str = "stopping") -> None:
        """Withdraw everything (bounded), then stop the speaker (its sessions close)."""
        actions = self.core.stop(why)
        if actions or self._sent:
            await self._bounded(actions)
            # The router needs a moment to move the flows; we forward them meanwhile.
            await asyncio.sleep(STOP_GRACE_S)
        await self.speaker.stop()
        self._sent.clear()
        self.events.add("bgp", f"{self.speaker.name} stopped ({why})")

    async def _bounded(self, actions: Sequence[Action]) -> None:
        try:
            async with asyncio.timeout(WITHDRAW_TIMEOUT_S):
                await self._execute(actions)
        except TimeoutError:
            log.error("BGP: %s did not answer within %.1f s; going on", self.speaker.name,
                      WITHDRAW_TIMEOUT_S)  # fmt: skip

    async def _execute(self, actions: Sequence[Action]) -> None:
        """Bring the engine to what the core says is announced; ``actions`` give the reasons.

        The engine follows ``core.announced`` (what was sent is ``_sent``) rather than
        replaying actions: a withdrawal decided while an announcement was still waiting for
        the engine is sent right after it, never lost and never overtaken."""
        self._why.update({a.prefix: a.why for a in actions})
        async with self._lock:
            for prefix in sorted(self._sent - self.core.announced):
                await self._send(Verb.WITHDRAW, prefix)
            for prefix in sorted(self.core.announced - self._sent):
                if prefix in self.core.announced:  # it may have changed while we awaited
                    await self._send(Verb.ANNOUNCE, prefix)

    async def _send(self, verb: Verb, prefix: str) -> None:
        start = self.clock.now()
        try:
            if verb is Verb.ANNOUNCE:
                await self.speaker.announce(prefix)
            else:
                await self.speaker.withdraw(prefix)
        except SpeakerError as exc:
            log.error("BGP: %s %s failed: %s", verb.value, prefix, exc)
            self.events.add("bgp", f"{verb.value} {prefix} failed: {exc}")
            if verb is Verb.ANNOUNCE:
                self.core.not_announced(prefix)  # try again later
            self._retry_at = self.clock.now() + RETRY_S
            return
        if verb is Verb.ANNOUNCE:
            self._sent.add(prefix)
        else:
            self._sent.discard(prefix)
        ms = (self.clock.now() - start) * 1000
        message = f"{verb.value} {prefix} ({self._why.pop(prefix, 'resync')}; {ms:.1f} ms)"
        log.info("BGP: %s", message)
        self.events.add("bgp", message)
