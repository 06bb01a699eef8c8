"""Services gone from the real IPVS table (in the VM) come back; changed ones stay changed.

``ipvsadm -C`` empties the table; ``LvsController.restore_missing`` (run every ``AUDIT_S`` by
the daemon) adds back what the config has and the kernel lost. An operator's drain of a
server (``ipvsadm -e ... -w 0``) on a service that exists is left as it is, as keepalived
leaves it until the next checker verdict.
"""

from __future__ import annotations

import asyncio

import pytest

from pykeepalived.kernel.ipvs import IpvsDataPlane
from pykeepalived.lvs.controller import LvsController

from .ipvs_lab import namespace, rules, sh
from .test_lvs_flush_ipvs import OURS, ours

pytestmark = [pytest.mark.ipvs, pytest.mark.root]
DRAINED = ["-A -t 10.0.0.1:80 -s wrr", "-a -t 10.0.0.1:80 -r 10.0.0.2:80 -m -w 0"]


async def scenario(ns: str) -> None:
    plane = IpvsDataPlane(netns=ns)
    try:
        controller = LvsController(plane)
        assert not (await controller.update(ours())).failed
        sh("ipvsadm", "-C", netns=ns)
        assert rules(ns) == []
        assert [str(k.address) for k in await controller.restore_missing()] == ["10.0.0.1"]
        assert sorted(rules(ns)) == sorted(OURS)
        sh("ipvsadm", "-e", "-t", "10.0.0.1:80", "-r", "10.0.0.2:80", "-m", "-w", "0", netns=ns)
        assert await controller.restore_missing() == []
        assert sorted(rules(ns)) == sorted(DRAINED)
        assert not (await controller.stop()).failed
    finally:
        await plane.close()


def test_a_cleared_table_comes_back_and_a_drain_stays() -> None:
    with namespace("missing") as ns:
        asyncio.run(asyncio.wait_for(scenario(ns), 60))
