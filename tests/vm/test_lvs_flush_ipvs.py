"""``lvs_flush`` / ``lvs_flush_on_stop`` on the real IPVS (in the VM): the LVS controller over
``IpvsDataPlane`` in a namespace of its own, beside a service made with ipvsadm (not ours).

- ``lvs_flush`` at start: IPVS_CMD_FLUSH empties the table (the foreign service too), then our
  services are added;
- default stop (and ``lvs_flush_on_stop VS``, the same on our side): ours go, the foreign one
  stays;
- ``lvs_flush_on_stop``: one flush at stop, the foreign service goes too.
"""

from __future__ import annotations

import asyncio
from ipaddress import ip_address

import pytest

from pykeepalived.kernel.ipvs import IpvsDataPlane
from pykeepalived.lvs.controller import LvsController
from pykeepalived.lvs.table import Destination, DestKey, Method, Service, ServiceEntry, ServiceKey

from .ipvs_lab import namespace, rules, sh

pytestmark = [pytest.mark.ipvs, pytest.mark.root]

FOREIGN = ["-A -t 10.9.9.9:80 -s rr", "-a -t 10.9.9.9:80 -r 10.9.9.10:80 -m -w 1"]
OURS = ["-A -t 10.0.0.1:80 -s wrr", "-a -t 10.0.0.1:80 -r 10.0.0.2:80 -m -w 3"]


def ours() -> dict[ServiceKey, ServiceEntry]:
    key = ServiceKey(family=4, protocol="TCP", address=ip_address("10.0.0.1"), port=80)
    dest = Destination(key=DestKey(address=ip_address("10.0.0.2"), port=80), weight=3,
                       method=Method.NAT)  # fmt: skip
    service = Service(key=key, scheduler="wrr")
    return {key: ServiceEntry(service=service, destinations={dest.key: dest})}


def add_foreign(ns: str) -> None:
    sh("ipvsadm", "-R", netns=ns, stdin="".join(f"{r}\n" for r in FOREIGN))


async def scenario(ns: str) -> None:
    """Three runs of the controller on one data plane (one netns socket: under TCG opening it
    costs more than the rest), each as the daemon's LVS side would run it."""
    plane = IpvsDataPlane(netns=ns)
    try:
        # default (and VS) stop: ours go, the foreign service stays
        controller = LvsController(plane)
        assert not (await controller.update(ours())).failed
        assert sorted(rules(ns)) == sorted([*OURS, *FOREIGN])
        assert not (await controller.stop()).failed
        assert sorted(rules(ns)) == sorted(FOREIGN)
        # lvs_flush at start: the table is emptied before ours are added
        controller = LvsController(plane)
        assert await controller.flush("lvs_flush")
        assert rules(ns) == []
        assert not (await controller.update(ours())).failed
        assert sorted(rules(ns)) == sorted(OURS)
        add_foreign(ns)  # made by someone else while we run
        # lvs_flush_on_stop: one flush, the foreign service goes too
        assert not (await controller.stop(flush=True)).failed
        assert rules(ns) == []
    finally:
        await plane.close()


def test_flush_at_start_and_stop() -> None:
    with namespace("flush") as ns:
        add_foreign(ns)
        asyncio.run(asyncio.wait_for(scenario(ns), 60))
