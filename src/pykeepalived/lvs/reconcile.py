"""Reconcile: the minimal operations that turn the observed LVS table into the desired one.

Rules: pure. ``plan(desired, observed, owned)`` compares by identity (``ServiceKey``,
``DestKey``) and returns operations in an order a data plane can apply one by one: destination
removals first, then service edits and additions, then destination edits and additions, then
service removals. Only services in ``desired`` or in ``owned`` (what a previous run created) are
ever touched: an operator's hand-made service survives every plan. Applying a plan and planning
again yields no operation (idempotence); a single weight change yields a single operation.
"""

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pykeepalived.lvs.table import Destination, DestKey, Service, ServiceEntry, ServiceKey, Table


class OpKind(enum.Enum):
    ADD_SERVICE = "add-service"
    EDIT_SERVICE = "edit-service"
    DEL_SERVICE = "del-service"
    ADD_DEST = "add-dest"
    EDIT_DEST = "edit-dest"
    DEL_DEST = "del-dest"


@dataclass(frozen=True, slots=True, kw_only=True)
class Op:
    kind: OpKind
    service: ServiceKey
    service_attrs: Service | None = None
    dest: DestKey | None = None
    dest_attrs: Destination | None = None

    def __str__(self) -> str:
        target = f"{self.service}" + (f" -> {self.dest}" if self.dest else "")
        if self.dest_attrs is not None and self.kind is not OpKind.DEL_DEST:
            target += f" weight {self.dest_attrs.weight} {self.dest_attrs.method.name}"
        return f"{self.kind.value} {target}"


def plan(desired: Table, observed: Table, owned: Iterable[ServiceKey] = ()) -> list[Op]:
    owned_set = set(owned)
    del_dests: list[Op] = []
    services: list[Op] = []
    dests: list[Op] = []
    del_services: list[Op] = []
    for key in sorted(desired):
        want = desired[key]
        have = observed.get(key)
        if have is None:
            services.append(Op(kind=OpKind.ADD_SERVICE, service=key, service_attrs=want.service))
            dests += _dest_ops(key, want, None)
            continue
        if have.service != want.service:
            services.append(Op(kind=OpKind.EDIT_SERVICE, service=key, service_attrs=want.service))
        ops = _dest_ops(key, want, have)
        del_dests += [op for op in ops if op.kind is OpKind.DEL_DEST]
        dests += [op for op in ops if op.kind is not OpKind.DEL_DEST]
    for key in sorted(owned_set - set(desired)):
        if key in observed:
            del_services.append(Op(kind=OpKind.DEL_SERVICE, service=key))
    return del_dests + services + dests + del_services


def _dest_ops(key: ServiceKey, want: ServiceEntry, have: ServiceEntry | None) -> list[Op]:
    current = {} if have is None else have.destinations
    ops: list[Op] = []
    for dkey in sorted(set(current) - set(want.destinations)):
        ops.append(Op(kind=OpKind.DEL_DEST, service=key, dest=dkey, dest_attrs=current[dkey]))
    for dkey in sorted(want.destinations):
        target = want.destinations[dkey]
        if dkey not in current:
            ops.append(Op(kind=OpKind.ADD_DEST, service=key, dest=dkey, dest_attrs=target))
        elif current[dkey] != target:
            ops.append(Op(kind=OpKind.EDIT_DEST, service=key, dest=dkey, dest_attrs=target))
    return ops


def teardown(owned: Iterable[ServiceKey], observed: Table) -> list[Op]:
    """What a graceful stop removes: every service we created that is still there."""
    return [Op(kind=OpKind.DEL_SERVICE, service=k) for k in sorted(set(owned)) if k in observed]


def apply_to(table: Table, ops: Sequence[Op]) -> dict[ServiceKey, ServiceEntry]:
    """The table after ``ops``: the reference semantics every backend must match (and a model
    for tests and dry runs)."""
    result = {
        k: ServiceEntry(service=e.service, destinations=dict(e.destinations))
        for k, e in table.items()
    }
    for op in ops:
        _apply_one(result, op)
    return result


def _apply_one(result: dict[ServiceKey, ServiceEntry], op: Op) -> None:
    if op.kind is OpKind.ADD_SERVICE or op.kind is OpKind.EDIT_SERVICE:
        assert op.service_attrs is not None
        old = result.get(op.service)
        dests = dict(old.destinations) if old is not None else {}
        result[op.service] = ServiceEntry(service=op.service_attrs, destinations=dests)
    elif op.kind is OpKind.DEL_SERVICE:
        result.pop(op.service, None)
    else:
        entry = result[op.service]
        dests = dict(entry.destinations)
        assert op.dest is not None
        if op.kind is OpKind.DEL_DEST:
            dests.pop(op.dest, None)
        else:
            assert op.dest_attrs is not None
            dests[op.dest] = op.dest_attrs
        result[op.service] = ServiceEntry(service=entry.service, destinations=dests)
