"""Hypothesis: random routers and random event sequences never break the state machine.

Invariants checked:
- no impossible transition (the core raises InvalidTransitionError, which fails the test);
- after any input a timer is never in the past, after a timer run it is strictly in the future
  (asserted inside the harness on every step);
- without partitions, two live masters never coexist longer than one advert interval;
- once things are quiet (links healed, enough time), exactly one master among the live
  non-faulty routers, and none of the others is MASTER.
"""

from dataclasses import dataclass, replace

from hypothesis import given, settings
from hypothesis import strategies as st
from vrrp_harness import Host, Lan, params

from pykeepalived.vrrp.instance import Instance
from pykeepalived.vrrp.params import InstanceParams
from pykeepalived.vrrp.states import State
from pykeepalived.vrrp.tracking import Effect, verdict

IPS = ("10.0.0.1", "10.0.0.2", "10.0.0.3")


@dataclass(frozen=True)
class Op:
    kind: str
    host: int = 0
    value: float = 0.0
    other: int = 0


def routers(version: int, advert_int_s: float) -> st.SearchStrategy[list[InstanceParams]]:
    one: st.SearchStrategy[dict[str, object]] = st.fixed_dictionaries(
        {
            "priority": st.sampled_from([1, 50, 99, 100, 100, 200, 254, 255]),
            "nopreempt": st.booleans(),
            "preempt_delay_s": st.sampled_from([0.0, 0.0, 1.0, 3.0]),
            "startup_delay_s": st.sampled_from([0.0, 0.0, 0.0, 2.0]),
        }
    )
    return st.lists(one, min_size=2, max_size=3).map(
        lambda kws: [
            params(ip=IPS[i], version=version, advert_int_s=advert_int_s, **kw)
            for i, kw in enumerate(kws)
        ]
    )


def ops(partitions: bool) -> st.SearchStrategy[list[Op]]:
    host = st.integers(0, 2)
    kinds = [
        st.builds(Op, kind=st.just("run"), value=st.floats(0, 6)),
        st.builds(Op, kind=st.sampled_from(["kill", "stop", "revive"]), host=host),
        st.builds(
            Op,
            kind=st.sampled_from(["fault", "unfault", "pending", "resolved"]),
            host=host,
            other=host,
        ),
        st.builds(Op, kind=st.just("prio"), host=host, value=st.integers(-120, 120)),
    ]
    if partitions:
        kinds.append(st.builds(Op, kind=st.just("cut"), host=host, other=host))
        kinds.append(st.builds(Op, kind=st.just("heal")))
    return st.lists(st.one_of(kinds), max_size=25)


def apply(lan: Lan, configs: list[InstanceParams], op: Op) -> None:
    if op.kind == "run":
        lan.run(op.value)
        return
    if op.host >= len(configs):
        return
    name, cfg = str(configs[op.host].primary_ip), configs[op.host]
    alive = lan.hosts[name].alive
    if op.kind == "kill" and alive:
        lan.kill(name)
    elif op.kind == "stop" and alive:
        lan.stop(name)
    elif op.kind == "revive" and not alive:
        lan.revive(name, Instance(cfg))
    elif op.kind in ("fault", "unfault") and alive:
        lan.fault(name, op.kind == "fault")
    elif op.kind in ("pending", "resolved") and alive:
        lan.pending(name, op.kind == "pending")
    elif op.kind == "prio" and alive:
        lan.track(name, verdict(cfg.priority, [Effect(delta=int(op.value))]))
    elif op.kind == "cut" and op.other < len(configs) and op.other != op.host:
        lan.partition(name, str(configs[op.other].primary_ip))
    elif op.kind == "heal":
        lan.heal()


def settle(lan: Lan, configs: list[InstanceParams]) -> None:
    """Heal everything, lift faults, let preempt_delay and Master_Down run out."""
    lan.heal()
    for cfg in configs:
        if lan.hosts[str(cfg.primary_ip)].alive:
            lan.fault(str(cfg.primary_ip), False)
            lan.pending(str(cfg.primary_ip), False)
    delays = max(2 * c.preempt_delay_s + c.startup_delay_s for c in configs)
    quiet = delays + 8 * configs[0].advert_int_s + 10
    lan.run(quiet)


def check_steady_state(lan: Lan, configs: list[InstanceParams]) -> None:
    live = [lan.hosts[str(c.primary_ip)] for c in configs if lan.hosts[str(c.primary_ip)].alive]
    eligible = [h for h in live if h.instances[0].state is not State.FAULT]
    masters = lan.masters()
    assert len(masters) <= 1, f"two masters at steady state: {masters}"
    if eligible:
        assert len(masters) == 1, "nobody is master although a router could be"


def run_scenario(
    configs: list[InstanceParams], sequence: list[Op], partitions: bool, delay_s: float
) -> None:
    lan = Lan.of(*(Instance(c) for c in configs), delay_s=delay_s)
    lan.start()
    for op in sequence:
        apply(lan, configs, op)
        if not partitions:
            assert lan.split_brain_s() <= configs[0].advert_int_s
    settle(lan, configs)
    if not partitions:
        assert lan.split_brain_s() <= configs[0].advert_int_s
    check_steady_state(lan, configs)


@settings(max_examples=150)
@given(
    configs=routers(version=2, advert_int_s=1.0),
    sequence=ops(partitions=False),
    delay_s=st.sampled_from([0.0005, 0.001, 0.05]),
)
def test_v2_random_events_keep_the_invariants(
    configs: list[InstanceParams], sequence: list[Op], delay_s: float
) -> None:
    run_scenario(configs, sequence, partitions=False, delay_s=delay_s)


@settings(max_examples=100)
@given(
    configs=routers(version=3, advert_int_s=0.05),
    sequence=ops(partitions=False),
)
def test_v3_fast_adverts_random_events_keep_the_invariants(
    configs: list[InstanceParams], sequence: list[Op]
) -> None:
    run_scenario(configs, sequence, partitions=False, delay_s=0.001)


@settings(max_examples=100)
@given(configs=routers(version=2, advert_int_s=1.0), sequence=ops(partitions=True))
def test_partitions_heal_into_one_master(configs: list[InstanceParams], sequence: list[Op]) -> None:
    run_scenario(configs, sequence, partitions=True, delay_s=0.001)


# -- the same with a sync group of two instances on every router ----------------------------


def grouped_lan(configs: list[InstanceParams]) -> Lan:
    hosts = {}
    for cfg in configs:
        vi1 = Instance(cfg)
        vi2 = Instance(replace(cfg, name="VI_2", virtual_router_id=52))
        hosts[str(cfg.primary_ip)] = Host(str(cfg.primary_ip), [vi1, vi2], {"G": ["VI_1", "VI_2"]})
    return Lan(hosts=hosts, delay_s=0.001)


def apply_grouped(lan: Lan, configs: list[InstanceParams], op: Op) -> None:
    if op.host >= len(configs) or op.kind not in ("revive", "fault", "unfault", "prio"):
        apply(lan, configs, op)
        return
    name, cfg = str(configs[op.host].primary_ip), configs[op.host]
    host = lan.hosts[name]
    if op.kind == "revive" and not host.alive:
        vi1, vi2 = Instance(cfg), Instance(replace(cfg, name="VI_2", virtual_router_id=52))
        lan.revive(name, vi1, vi2, groups={"G": ["VI_1", "VI_2"]})
    elif op.kind in ("fault", "unfault") and host.alive:
        lan.fault(name, op.kind == "fault", name="VI_2" if op.other % 2 else "VI_1")
    elif op.kind == "prio" and host.alive:
        result = verdict(cfg.priority, [Effect(delta=int(op.value))])
        lan.track(name, result, name="VI_1")  # group tracking reaches every member alike
        lan.track(name, result, name="VI_2")


def one_owner_at_most(configs: list[InstanceParams]) -> bool:
    """Two address owners demote one member each, differently on each router: the groups then
    disagree forever, the re-election loop keepalived.conf(5) warns about. Not generated."""
    return sum(c.is_address_owner for c in configs) <= 1


@settings(max_examples=100)
@given(
    configs=routers(version=2, advert_int_s=1.0).filter(one_owner_at_most),
    sequence=ops(partitions=True),
)
def test_sync_groups_move_together_and_elect_one_master(
    configs: list[InstanceParams], sequence: list[Op]
) -> None:
    lan = grouped_lan(configs)
    lan.start()
    for op in sequence:
        apply_grouped(lan, configs, op)
    lan.heal()
    for cfg in configs:
        if lan.hosts[str(cfg.primary_ip)].alive:
            for member in ("VI_1", "VI_2"):
                lan.fault(str(cfg.primary_ip), False, name=member)
            lan.pending(str(cfg.primary_ip), False)
    lan.run(max(2 * c.preempt_delay_s + c.startup_delay_s for c in configs) + 30)
    live = [h for h in lan.hosts.values() if h.alive]
    for host in live:
        assert len({i.state for i in host.instances}) == 1, f"{host.name} members disagree"
    assert lan.masters(51) == lan.masters(52)
    assert len(lan.masters(51)) == (1 if live else 0)
