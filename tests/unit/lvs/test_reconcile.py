"""Reconcile is minimal, idempotent and never touches what it does not own."""

from ipaddress import ip_address

from hypothesis import given
from hypothesis import strategies as st

from pykeepalived.lvs.reconcile import OpKind, apply_to, plan, teardown
from pykeepalived.lvs.table import (
    Destination,
    DestKey,
    Method,
    Service,
    ServiceEntry,
    ServiceKey,
    Table,
)


def skey(n: int) -> ServiceKey:
    return ServiceKey(family=4, protocol="TCP", address=ip_address(f"10.0.0.{n}"), port=80)


def dest(n: int, weight: int = 1, method: Method = Method.DR) -> Destination:
    return Destination(
        key=DestKey(address=ip_address(f"10.1.0.{n}"), port=80), weight=weight, method=method
    )


def entry(n: int, *dests: Destination, scheduler: str = "wlc") -> tuple[ServiceKey, ServiceEntry]:
    return skey(n), ServiceEntry(
        service=Service(key=skey(n), scheduler=scheduler),
        destinations={d.key: d for d in dests},
    )


SEED: Table = dict([entry(100, dest(10, 3), dest(11, 3))])


def test_empty_kernel_gets_the_service_then_its_destinations() -> None:
    ops = plan(SEED, {})
    assert [op.kind for op in ops] == [OpKind.ADD_SERVICE, OpKind.ADD_DEST, OpKind.ADD_DEST]


def test_second_apply_is_zero_operations() -> None:
    after = apply_to({}, plan(SEED, {}))
    assert plan(SEED, after) == []


def test_one_weight_change_is_one_operation() -> None:
    desired = dict([entry(100, dest(10, 3), dest(11, 0))])
    (op,) = plan(desired, SEED, owned=SEED)
    assert op.kind is OpKind.EDIT_DEST
    assert op.dest == dest(11).key
    assert op.dest_attrs is not None
    assert op.dest_attrs.weight == 0


def test_scheduler_change_edits_the_service_in_place() -> None:
    desired = dict([entry(100, dest(10, 3), dest(11, 3), scheduler="rr")])
    assert [op.kind for op in plan(desired, SEED)] == [OpKind.EDIT_SERVICE]


def test_removed_real_server_is_one_delete() -> None:
    desired = dict([entry(100, dest(10, 3))])
    assert [(op.kind, op.dest) for op in plan(desired, SEED)] == [(OpKind.DEL_DEST, dest(11).key)]


def test_foreign_service_survives_plan_and_teardown() -> None:
    foreign = dict([entry(7, dest(99))])
    observed = {**SEED, **foreign}
    assert plan(SEED, observed, owned=SEED) == []
    assert {op.service for op in teardown(SEED, observed)} == {skey(100)}


def test_service_dropped_from_config_is_removed_only_if_we_own_it() -> None:
    observed = {**SEED, **dict([entry(5, dest(1))])}
    assert plan(SEED, observed, owned=[skey(100)]) == []
    (op,) = plan(SEED, observed, owned=[skey(100), skey(5)])
    assert (op.kind, op.service) == (OpKind.DEL_SERVICE, skey(5))


def test_adopting_a_previous_runs_table_needs_no_flush() -> None:
    leftover = apply_to({}, plan(SEED, {}))
    assert plan(SEED, leftover) == []


tables = st.dictionaries(
    st.integers(1, 6),
    st.lists(st.tuples(st.integers(1, 6), st.integers(0, 5)), max_size=4),
    max_size=5,
)


def build(spec: dict[int, list[tuple[int, int]]]) -> Table:
    return dict(entry(n, *(dest(d, w) for d, w in dests)) for n, dests in spec.items())


@given(desired=tables, observed=tables, foreign=tables)
def test_plan_converges_in_one_step_and_spares_foreign_services(
    desired: dict[int, list[tuple[int, int]]],
    observed: dict[int, list[tuple[int, int]]],
    foreign: dict[int, list[tuple[int, int]]],
) -> None:
    want = build(desired)
    others = {k: v for k, v in build({n + 100: d for n, d in foreign.items()}).items()}
    have = {**build(observed), **others}
    owned = set(build(observed))
    after = apply_to(have, plan(want, have, owned))
    assert {k: after[k] for k in want} == {k: want[k] for k in want}
    assert {k: after[k] for k in others} == others
    assert set(after) == set(want) | set(others)
    assert plan(want, after, owned | set(want)) == []
