"""Active-active on kernel IPVS (in the VM): a director with a ``bgp_speaker`` programs its
service as ``mh`` with the port flag, from the same config the nftables tests use, and turns
on ``sloppy_tcp`` so that it takes up a flow the router moved to it in mid-stream."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from pykeepalived.config.loader import load
from pykeepalived.kernel.ipvs import IpvsDataPlane
from pykeepalived.lab.aa_topology import director_conf
from pykeepalived.lvs.desired import compute
from pykeepalived.lvs.reconcile import plan

from .ipvs_lab import listing, namespace, sh

pytestmark = [pytest.mark.ipvs, pytest.mark.root]


def test_a_bgp_director_on_ipvs_uses_mh_with_port_and_sloppy_tcp() -> None:
    text = director_conf("dir-1", Path("/run/pykeepalived-test"))
    config = load("dir-1.conf", text=text).config
    assert config is not None
    with namespace("aa") as ns:
        sh("modprobe", "ip_vs_mh", check=False)
        code = "from pykeepalived.runtime import _sloppy_tcp; _sloppy_tcp()"
        subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", code], check=True,
                       timeout=60)  # fmt: skip
        assert sh("sysctl", "-n", "net.ipv4.vs.sloppy_tcp", netns=ns).strip() == "1"
        desired = compute(config, {}).table

        async def program() -> None:
            backend = IpvsDataPlane(netns=ns)
            try:
                ops = plan(desired, await backend.observe())
                assert await backend.apply(ops, desired) == []
            finally:
                await backend.close()

        asyncio.run(asyncio.wait_for(program(), timeout=60))
        text = listing(ns)
        assert "TCP  192.168.99.100:80 mh (mh-port)" in text, text
        assert text.count("-> 192.168.88.1") == 2, text
