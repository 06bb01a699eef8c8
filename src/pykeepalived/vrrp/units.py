"""Units: a standalone instance and a sync group behind one interface for the driver.

Rules: pure. ``Solo`` wraps one ``Instance`` so that the driver treats it exactly like a
``SyncGroup`` (inputs name a member, outputs are ``Tagged`` actions).
"""

from pykeepalived.vrrp.events import AdvertReceived
from pykeepalived.vrrp.group import SyncGroup, Tagged
from pykeepalived.vrrp.hold import Hold
from pykeepalived.vrrp.instance import Instance
from pykeepalived.vrrp.tracking import Verdict, apply_verdict


class Solo:
    def __init__(self, instance: Instance) -> None:
        self.instance = instance
        self.name = instance.name

    @property
    def members(self) -> list[Instance]:
        return [self.instance]

    def _tag(self, actions: list[object]) -> list[Tagged]:
        return [Tagged(source=self.name, action=a) for a in actions]  # type: ignore[arg-type]

    def start(self, now: float) -> list[Tagged]:
        return self._tag(list(self.instance.start(now)))

    def get_timer(self) -> float | None:
        return self.instance.get_timer()

    def handle_timer(self, now: float) -> list[Tagged]:
        return self._tag(list(self.instance.handle_timer(now)))

    def handle_advert(self, member: str, advert: AdvertReceived, now: float) -> list[Tagged]:
        return self._tag(list(self.instance.handle_advert(advert, now)))

    def apply_verdict(self, member: str, result: Verdict, now: float) -> list[Tagged]:
        return self._tag(list(apply_verdict(self.instance, result, now)))

    def hold_backup(self, member: str, hold: Hold, now: float) -> list[Tagged]:
        return self._tag(list(self.instance.hold_backup(hold, now)))

    def hold_fault(self, member: str, holder: str, reason: str, now: float) -> list[Tagged]:
        return self._tag(list(self.instance.hold_fault(holder, reason, now)))

    def release_fault(self, member: str, holder: str, now: float) -> list[Tagged]:
        return self._tag(list(self.instance.release_fault(holder, now)))

    def release_backup(self, member: str, holder: str, now: float) -> list[Tagged]:
        return self._tag(list(self.instance.release_backup(holder, now)))

    def shutdown(self, now: float) -> list[Tagged]:
        return self._tag(list(self.instance.shutdown(now)))


Unit = Solo | SyncGroup
