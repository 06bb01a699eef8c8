"""A fake of the two daemon methods the API uses (``snapshot``, ``submit``), for unit tests
of the HTTP layer only. The lab tests use the real daemon."""

import dataclasses
import time

from pykeepalived.check.latency import ProbeTally
from pykeepalived.check.result import ProbeResult
from pykeepalived.state import (
    Command,
    CommandKind,
    CommandResult,
    CountersView,
    DaemonSnapshot,
    Event,
    InstanceView,
    ProbeView,
    RealServerView,
    SyncGroupView,
    Transition,
    VirtualServerView,
)

VS_ID = "192.168.88.100:80/TCP"


def tally(*latencies: float, failed: int = 0) -> ProbeTally:
    """A checker's tally after probes that took ``latencies`` (the last ``failed`` failed)."""
    t = ProbeTally()
    for n, latency in enumerate(latencies):
        t.observe(ProbeResult(ok=n < len(latencies) - failed, latency_s=latency))
    return t


def real_server(address: str, latency: float = 0.002) -> RealServerView:
    t = tally(0.0005, latency, latency)
    return RealServerView(
        address=address,
        port=80,
        configured_weight=1,
        weight=1,
        programmed_weight=1,
        healthy=True,
        probes=(
            ProbeView(
                checker="HTTP_GET #0",
                up=True,
                ok=True,
                reason="200",
                latency_s=latency,
                probes_ok=t.ok,
                probes_failed=t.failed,
                latency_sum_s=t.sum_s,
                latency_buckets=t.cumulative(),
            ),
        ),
        counters=CountersView(
            connections=10,
            packets_in=40,
            packets_out=30,
            bytes_in=4000,
            bytes_out=9000,
            active_connections=1,
        ),
    )


def sample_snapshot() -> DaemonSnapshot:
    now = time.time()
    vi = InstanceView(
        name="VI_1",
        interface="eth1",
        virtual_router_id=51,
        version=2,
        state="MASTER",
        priority=100,
        effective_priority=100,
        master_ip="192.168.88.8",
        advert_int_s=1.0,
        vips=("192.168.88.100/24",),
        sync_group="G1",
        transitions=(
            Transition(at=now - 5, old="INIT", new="BACKUP", reason="start"),
            Transition(at=now - 2, old="BACKUP", new="MASTER", reason="master down timer"),
        ),
        adverts_sent=12,
        adverts_received=3,
        priority_zero_sent=1,
        priority_zero_received=2,
        packet_errors=(("addr_count", 1), ("addr_list", 2), ("ttl", 4)),
        state_changes=(("BACKUP", "MASTER", 1), ("INIT", "BACKUP", 1)),
    )
    vs = VirtualServerView(
        id=VS_ID,
        services=("TCP 192.168.88.100:80",),
        scheduler="rr",
        method="DR",
        quorum_up=True,
        real_servers=(real_server("192.168.88.10"), real_server("192.168.88.11", 0.3)),
        counters=CountersView(
            connections=20, packets_in=80, packets_out=60, bytes_in=8000, bytes_out=18000
        ),
    )
    return DaemonSnapshot(
        taken_at=now,
        version="0.1.0",
        config_path="/etc/keepalived/keepalived.conf",
        started_at=now - 10,
        reloads=0,
        backend="nftables",
        backend_reason="no IPVS in this kernel",
        backend_notes=(),
        instances=(vi,),
        sync_groups=(SyncGroupView(name="G1", state="MASTER", members=("VI_1",)),),
        virtual_servers=(vs,),
        events=tuple(Event(at=now - 10 + n, kind="vrrp", message=f"event {n}") for n in range(5)),
        packet_errors=(("bad ttl", 2),),
        check_results=(("HTTP_GET", "ok", 7), ("HTTP_GET", "timeout", 1)),
        smtp_alerts=(("dropped", 1), ("failed", 2), ("sent", 5)),
    )


class FakeDaemon:
    """Applies drain/undrain/set-weight to its snapshot; records every command it got."""

    def __init__(self, snap: DaemonSnapshot | None = None) -> None:
        self.snap = snap or sample_snapshot()
        self.commands: list[Command] = []

    def snapshot(self) -> DaemonSnapshot:
        return self.snap

    async def submit(self, command: Command) -> CommandResult:
        self.commands.append(command)
        if command.kind is CommandKind.RELOAD:
            return CommandResult(ok=True, message=f"{command.kind.value} done")
        if command.kind in (CommandKind.RELEASE_MASTER, CommandKind.RECLAIM_MASTER):
            return self._mastership(command)
        vss = []
        found = False
        for vs in self.snap.virtual_servers:
            rss = []
            for rs in vs.real_servers:
                if (vs.id, rs.address, rs.port) == (
                    command.virtual_server,
                    command.address,
                    command.port,
                ):
                    found = True
                    rs = self._apply(rs, command)
                rss.append(rs)
            vss.append(dataclasses.replace(vs, real_servers=tuple(rss)))
        if not found:
            return CommandResult(ok=False, message="no such real server", not_found=True)
        self.snap = dataclasses.replace(self.snap, virtual_servers=tuple(vss))
        return CommandResult(ok=True, message=f"{command.kind.value} {command.address}")

    def _mastership(self, command: Command) -> CommandResult:
        """As the daemon: release only a MASTER, reclaim only a held instance."""
        (view,) = [i for i in self.snap.instances if i.name == command.instance]
        release = command.kind is CommandKind.RELEASE_MASTER
        if release and view.state != "MASTER":
            return CommandResult(ok=False, message=f"({view.name}) is {view.state}, not MASTER")
        if not release and not view.held:
            return CommandResult(ok=False, message=f"({view.name}) is not held by api")
        view = dataclasses.replace(
            view,
            state="BACKUP",
            held=release,
            held_by="api" if release else None,
            held_since=time.time() if release else None,
        )
        self.snap = dataclasses.replace(self.snap, instances=(view,))
        return CommandResult(ok=True, message=f"{command.kind.value} {view.name}")

    @staticmethod
    def _apply(rs: RealServerView, command: Command) -> RealServerView:
        if command.kind is CommandKind.DRAIN:
            return dataclasses.replace(rs, weight=0, programmed_weight=0, drained=True)
        if command.kind is CommandKind.UNDRAIN:
            w = rs.configured_weight
            return dataclasses.replace(rs, weight=w, programmed_weight=w, drained=False)
        w = command.weight or 0
        return dataclasses.replace(rs, weight=w, programmed_weight=w)
