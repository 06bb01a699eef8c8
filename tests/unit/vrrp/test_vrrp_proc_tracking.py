"""The process tracking core: matching, quorum, quorum_max, fork/terminate delays, and the
config's reading of vrrp_track_process (weights, reverse, quorum_max 0, param_match)."""

from dataclasses import dataclass

import pytest

from pykeepalived.config.loader import LoadResult, load
from pykeepalived.config.model import KeepalivedConfig
from pykeepalived.vrrp.from_config import process_polling, tracks, used_processes
from pykeepalived.vrrp.proc_tracking import ParamMatch, ProcessCounts, ProcessSpec, QuorumChange
from pykeepalived.vrrp.tracking import InstanceTracking, Kind, Track


@dataclass(frozen=True)
class P:
    comm: str
    argv: tuple[str, ...] = ()


HAPROXY = P("haproxy", ("/usr/sbin/haproxy", "-f", "/etc/haproxy.cfg"))


def counts(**kw: object) -> ProcessCounts:
    return ProcessCounts([ProcessSpec(name="t", path="haproxy", **kw)])  # type: ignore[arg-type]


def up(changes: list[QuorumChange]) -> list[bool]:
    return [c.up for c in changes]


def test_name_match_is_exact_on_comm() -> None:
    spec = ProcessSpec(name="t", path="ssh")
    assert spec.matches(P("ssh"))
    assert not spec.matches(P("sshd"))
    assert not spec.matches(P("xssh", ("ssh",)))  # argv is not looked at without full_command


def test_full_command_compares_argv0() -> None:
    spec = ProcessSpec(name="t", path="/usr/sbin/haproxy", full_command=True)
    assert spec.matches(HAPROXY)
    assert not spec.matches(P("haproxy", ("haproxy", "-f")))
    assert not spec.matches(P("kworker/0:1"))  # kernel threads have no argv


@pytest.mark.parametrize(
    ("how", "want", "got", "ok"),
    [
        (ParamMatch.EXACT, ("-f", "a"), ("-f", "a"), True),
        (ParamMatch.EXACT, ("-f", "a"), ("-f", "a", "-d"), False),
        (ParamMatch.EXACT, (), (), True),  # bare param_match: no parameters at all
        (ParamMatch.EXACT, (), ("-d",), False),
        (ParamMatch.PARTIAL, ("-f", "a"), ("-f", "a", "-d"), True),
        (ParamMatch.PARTIAL, ("-f", "a"), ("-f", "ab"), False),
        (ParamMatch.PARTIAL, ("-f", "a"), ("-f",), False),
        (ParamMatch.INITIAL, ("-f", "a"), ("-f", "abc", "-d"), True),
        (ParamMatch.INITIAL, ("-f", "a"), ("-g", "abc"), False),
        (ParamMatch.INITIAL, ("-f", "a"), ("-f",), False),
        (ParamMatch.PARTIAL, (), ("-x",), True),
    ],
)
def test_param_match(
    how: ParamMatch, want: tuple[str, ...], got: tuple[str, ...], ok: bool
) -> None:
    spec = ProcessSpec(name="t", path="/bin/x", params=want, param_match=how)
    assert spec.matches(P("x", ("/bin/x", *got))) is ok


def test_initial_scan_reports_at_once_and_exec_exit_follow() -> None:
    c = counts(fork_delay_s=5.0, terminate_delay_s=5.0)
    assert up(c.rescan({}, 0.0, initial=True)) == [False]
    assert up(c.exec(10, P("haproxy"), 1.0)) == [True]  # an exec is not delayed
    assert c.exec(10, P("haproxy"), 1.5) == []  # idempotent
    assert c.exit(10, 2.0) == []  # terminate_delay
    assert c.next_deadline() == 7.0
    assert c.on_timer(6.9) == []
    assert up(c.on_timer(7.0)) == [False]
    assert c.next_deadline() is None


def test_quorum_and_quorum_max() -> None:
    c = counts(quorum=2, quorum_max=3)
    c.rescan({1: P("haproxy")}, 0.0, initial=True)
    assert c.status("t") is False
    assert up(c.exec(2, P("haproxy"), 1.0)) == [True]
    assert c.exec(3, P("haproxy"), 1.0) == []
    assert up(c.exec(4, P("haproxy"), 1.0)) == [False]  # 4 > quorum_max
    assert up(c.exit(4, 1.0)) == [True]
    assert up(c.exec(3, P("bash"), 1.0) + c.exec(2, P("bash"), 1.0)) == [False]  # exec'd away
    assert c.count("t") == 1


def test_fork_delay_and_a_quick_exit_cancels_it() -> None:
    c = counts(fork_delay_s=1.0, quorum=2)
    c.rescan({1: P("haproxy")}, 0.0, initial=True)
    assert c.fork(1, 2, 10.0) == []
    assert c.next_deadline() == 11.0
    assert c.exit(2, 10.5) == []  # back below quorum before the delay ran out
    assert c.next_deadline() is None
    assert c.fork(99, 3, 10.6) == []  # an untracked parent: the child is not counted
    assert c.fork(1, 4, 10.7) == []
    assert up(c.on_timer(11.7)) == [True]


def test_terminate_delay_rides_out_a_restart() -> None:
    c = counts(terminate_delay_s=2.0)
    c.rescan({1: P("haproxy")}, 0.0, initial=True)
    assert c.exit(1, 5.0) == []
    assert c.exec(2, P("haproxy"), 6.0) == []  # back up before the delay: nothing reported
    assert c.on_timer(8.0) == []
    assert c.status("t") is True


def test_rescan_delays_by_direction() -> None:
    c = counts(fork_delay_s=1.0, terminate_delay_s=3.0)
    c.rescan({}, 0.0, initial=True)
    assert c.rescan({5: P("haproxy")}, 10.0) == []
    assert up(c.on_timer(11.0)) == [True]
    assert c.rescan({}, 20.0) == []
    assert c.next_deadline() == 23.0
    assert up(c.on_timer(23.0)) == [False]


def test_rename_only_moves_name_matched_trackers() -> None:
    c = ProcessCounts(
        [
            ProcessSpec(name="n", path="worker"),
            ProcessSpec(name="f", path="/bin/w", full_command=True),
        ]
    )
    c.rescan({1: P("w", ("/bin/w",))}, 0.0, initial=True)
    assert [(x.name, x.up) for x in c.renamed(1, "worker", 1.0)] == [("n", True)]
    assert c.status("f") is True  # the command line did not change


def test_quorum_max_zero_is_up_while_none_runs() -> None:
    c = counts(quorum=0, quorum_max=0)
    assert up(c.rescan({}, 0.0, initial=True)) == [True]
    assert up(c.exec(1, P("haproxy"), 1.0)) == [False]


def test_spec_refuses_what_cannot_work() -> None:
    with pytest.raises(ValueError, match="greater than quorum_max"):
        ProcessSpec(name="t", path="x", quorum=3, quorum_max=2)
    with pytest.raises(ValueError, match="no process name"):
        ProcessSpec(name="t", path="")


CONF = """
vrrp_track_process hap {{
    {body}
}}
vrrp_instance VI_1 {{
    interface eth0
    virtual_router_id 51
    priority 100
    virtual_ipaddress {{
        192.168.1.10
    }}
    track_process {{
        {line}
    }}
}}
"""


def loaded(body: str, line: str = "hap") -> LoadResult:
    return load("test.conf", text=CONF.format(body=body, line=line), config_id="lb1")


def conf(body: str) -> KeepalivedConfig:
    result = loaded(body)
    assert result.errors == ()
    assert result.config is not None
    return result.config


def test_config_reading_of_a_tracked_process() -> None:
    (spec,) = used_processes(conf('process "/usr/sbin/haproxy" -f /etc/h.cfg\n quorum_max 0'))
    assert spec.path == "/usr/sbin/haproxy"
    assert spec.params == ("-f", "/etc/h.cfg")
    assert spec.param_match is ParamMatch.EXACT
    assert (spec.quorum, spec.quorum_max) == (0, 0)
    (spec,) = used_processes(conf("process haproxy\n param_match initial\n delay 1.5"))
    assert spec.uses_cmdline
    assert (spec.fork_delay_s, spec.terminate_delay_s) == (1.5, 1.5)


def test_weights_default_reverse_and_fault() -> None:
    config = conf("process haproxy")
    inst = config.vrrp_instance[0]
    (track,) = [t for t in tracks(inst, config, in_sync_group=False) if t.kind is Kind.PROCESS]
    assert track == Track(kind=Kind.PROCESS, name="hap")  # keepalived's default weight is 0
    tracking = InstanceTracking(100, [track])
    verdict = tracking.observe(Kind.PROCESS, "hap", False)
    assert verdict is not None
    assert verdict.faults == ("process hap down",)
    config = conf("process haproxy\n weight 20 reverse")
    inst = config.vrrp_instance[0]
    (track,) = [t for t in tracks(inst, config, in_sync_group=False) if t.kind is Kind.PROCESS]
    assert (track.weight, track.reverse) == (20, True)
    tracking = InstanceTracking(100, [track])
    verdict = tracking.observe(Kind.PROCESS, "hap", True)
    assert verdict is not None
    assert verdict.priority == 80  # reverse: a running process takes the weight off
    assert tracking.verdict().faults == ()


@pytest.mark.parametrize(
    ("body", "line", "message"),
    [
        ("quorum 1", "hap", "process name not specified"),
        ("process x\n quorum 3\n quorum_max 2", "hap", "greater than quorum_max"),
        ("process x", "nope", "vrrp_track_process 'nope' is not defined"),
    ],
)
def test_config_checks(body: str, line: str, message: str) -> None:
    result = loaded(body, line)
    assert any(message in d.message for d in result.errors), result.diagnostics


def test_a_name_longer_than_comm_is_warned() -> None:
    result = loaded("process haproxy-wrapper-long")
    assert result.errors == ()
    assert any("it never matches; use full_command" in d.message for d in result.warnings)
    assert not loaded("process haproxy-wrapper-long\n full_command").warnings


def test_a_sync_groups_track_process_faults_every_member() -> None:
    text = CONF.format(body="process haproxy\n weight 10", line="") + (
        "vrrp_sync_group G {\n group {\n VI_1\n }\n track_process {\n hap weight 5\n }\n}\n"
    )
    result = load("test.conf", text=text, config_id="lb1")
    assert result.errors == ()
    assert result.config is not None
    inst = result.config.vrrp_instance[0]
    procs = [t for t in tracks(inst, result.config, in_sync_group=True) if t.kind is Kind.PROCESS]
    assert procs == [Track(kind=Kind.PROCESS, name="hap")]  # a group's lines: faults only
    assert [s.name for s in used_processes(result.config)] == ["hap"]


def test_polling_keyword() -> None:
    assert not process_polling(conf("process haproxy"))
    text = "global_defs {\n vrrp_track_process_use_polling\n}\n" + CONF.format(
        body="process haproxy", line="hap"
    )
    result = load("test.conf", text=text, config_id="lb1")
    assert result.config is not None
    assert result.diagnostics == ()
    assert process_polling(result.config)
