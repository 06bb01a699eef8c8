"""The per-process surface: routing to standalone instances and sync groups."""

from ipaddress import IPv4Address

import pytest
from vrrp_harness import params

from pykeepalived.vrrp.events import AdvertReceived, SendAdvert
from pykeepalived.vrrp.instance import Instance
from pykeepalived.vrrp.router import Router
from pykeepalived.vrrp.states import State
from pykeepalived.vrrp.tracking import Verdict

T0 = 1000.0


def three() -> list[Instance]:
    return [
        Instance(params(name="VI_1", virtual_router_id=51)),
        Instance(params(name="VI_2", virtual_router_id=52)),
        Instance(params(name="VI_3", virtual_router_id=53, priority=255)),
    ]


def test_router_runs_groups_and_standalone_instances_together() -> None:
    router = Router(three(), {"G": ["VI_1", "VI_2"]})
    out = router.start(T0)
    assert {t.source for t in out} == {"G", "VI_1", "VI_2", "VI_3"}
    assert router.instance("VI_3").state is State.MASTER  # owner, at once
    timer = router.get_timer()
    assert timer == pytest.approx(T0 + 1)  # VI_3's next advert
    sent = [t.source for t in router.handle_timer(T0 + 1) if isinstance(t.action, SendAdvert)]
    assert sent == ["VI_3"]
    router.handle_timer(T0 + 3 + 156 / 256)
    assert router.group_states() == {"G": State.MASTER}
    assert {s.name: s.state for s in router.snapshot()} == {
        "VI_1": State.MASTER,
        "VI_2": State.MASTER,
        "VI_3": State.MASTER,
    }


def test_router_routes_adverts_and_tracking_by_name() -> None:
    router = Router(three(), {"G": ["VI_1", "VI_2"]})
    router.start(T0)
    advert = AdvertReceived(
        source=IPv4Address("10.0.0.9"), vrid=53, version=2, priority=255, advert_int_cs=100
    )
    assert any(
        "CONFIGURATION ERROR" in str(t.action) for t in router.handle_advert("VI_3", advert, T0)
    )
    router.apply_verdict("VI_1", Verdict(priority=100, faults=("interface eth0 down",)), T0)
    assert router.instance("VI_2").state is State.FAULT  # the group followed
    router.apply_verdict("VI_3", Verdict(priority=254, faults=("script chk down",)), T0)
    assert router.instance("VI_3").state is State.FAULT
    assert router.release_fault("VI_3", "tracking", T0)
    router.shutdown(T0 + 1)
    assert {i.state for i in router.instances.values()} == {State.STOP}


@pytest.mark.parametrize(
    ("groups", "match"),
    [
        ({"G": ["VI_1", "VI_9"]}, "no instance VI_9"),
        ({"G": ["VI_1", "VI_2"], "H": ["VI_2", "VI_3"]}, "two sync groups"),
    ],
)
def test_router_refuses_broken_groups(groups: dict[str, list[str]], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Router(three(), groups)


def test_router_refuses_an_instance_twice() -> None:
    inst = three()[0]
    with pytest.raises(ValueError, match="twice"):
        Router([inst, inst])
