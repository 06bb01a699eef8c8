"""``lvs_flush`` / ``lvs_flush_on_stop``: the decision read from global_defs (keepalived
2.2.7's global_parser.c: no word = flush all, ``VS`` = each virtual server, anything else an
error), and the controller's stop: one flush, or each of ours when the flush cannot be done.
The data plane here is a fake (an in-memory table), named as such: the kernel paths are in
tests/vm/test_lvs_flush_ipvs.py (IPVS) and tests/netns/test_lvs_flush_nft.py (nftables)."""

import asyncio
from collections.abc import Sequence
from ipaddress import ip_address

import pytest

from pykeepalived.config.loader import load
from pykeepalived.errors import KernelError
from pykeepalived.kernel.backend import BackendInfo
from pykeepalived.kernel.dataplane import OpFailure
from pykeepalived.lvs.controller import LvsController
from pykeepalived.lvs.flush import FlushPolicy, StopFlush, flush_policy
from pykeepalived.lvs.reconcile import Op, apply_to
from pykeepalived.lvs.table import Service, ServiceEntry, ServiceKey, Table


def policy(lines: str) -> tuple[FlushPolicy | None, list[str]]:
    result = load("t.conf", text=f"global_defs {{\n{lines}}}\n", config_id="x", environment=None)
    said = [f"{d.severity.value}: {d.message}" for d in result.diagnostics]
    if result.config is None or not result.ok:
        return None, said
    return flush_policy(result.config.global_defs), said


@pytest.mark.parametrize(
    ("lines", "at_start", "at_stop"),
    [
        ("", False, StopFlush.NONE),
        ("lvs_flush\n", True, StopFlush.NONE),
        ("lvs_flush_on_stop\n", False, StopFlush.FULL),
        ("lvs_flush_on_stop VS\n", False, StopFlush.VS),
        ("lvs_flush_onstop VS\nlvs_flush\n", True, StopFlush.VS),  # the old spelling
    ],
)
def test_policy_as_keepalived(lines: str, at_start: bool, at_stop: StopFlush) -> None:
    got, said = policy(lines)
    assert got == FlushPolicy(at_start=at_start, at_stop=at_stop)
    assert said == []


def test_an_unknown_type_is_an_error_at_the_word() -> None:
    assert policy("lvs_flush_on_stop vs\n") == (
        None,
        ["error: unknown lvs_flush_on_stop type 'vs' (expected VS)"],
    )


def entry(last_octet: int) -> tuple[ServiceKey, ServiceEntry]:
    key = ServiceKey(family=4, protocol="TCP", address=ip_address(f"10.0.0.{last_octet}"), port=80)
    return key, ServiceEntry(service=Service(key=key, scheduler="rr"), destinations={})


class FakeDataPlane:
    """A fake: an in-memory table with the reconcile's reference semantics; ``flush_error``
    makes its flush fail as a kernel refusal would."""

    def __init__(self, table: Table, flush_error: str | None = None) -> None:
        self.table = dict(table)
        self.flush_error = flush_error
        self.flushes = 0

    @property
    def info(self) -> BackendInfo:
        return BackendInfo(name="fake", reason="test")

    async def observe(self) -> Table:
        return dict(self.table)

    async def apply(self, ops: Sequence[Op], desired: Table) -> list[OpFailure]:
        self.table = apply_to(self.table, ops)
        return []

    async def counters(self) -> dict[ServiceKey, object]:
        return {}

    async def flush(self) -> None:
        self.flushes += 1
        if self.flush_error:
            raise KernelError(self.flush_error)
        self.table = {}

    async def close(self) -> None:
        pass


async def stop_with(plane: FakeDataPlane, *, flush: bool) -> Table:
    ours, foreign = entry(1), entry(9)
    plane.table.update([foreign])
    controller = LvsController(plane)  # type: ignore[arg-type]
    await controller.update(dict([ours]))
    await controller.stop(flush=flush)
    return plane.table


def test_stop_flushes_everything_or_removes_ours() -> None:
    foreign = dict([entry(9)])
    assert asyncio.run(stop_with(FakeDataPlane({}), flush=True)) == {}
    assert asyncio.run(stop_with(FakeDataPlane({}), flush=False)) == foreign
    refused = FakeDataPlane({}, flush_error="Operation not permitted")
    assert asyncio.run(stop_with(refused, flush=True)) == foreign, "ours removed one by one"
    assert refused.flushes == 1
