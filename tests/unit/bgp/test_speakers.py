"""The engines' generated configs (identical attributes, BFD only with BIRD) and the daemon
glue's handling of a speaker that fails (a recording stand-in for ExaBGP/BIRD: the real ones
are driven in tests/netns/test_active_active.py)."""

import asyncio

from pykeepalived.bgp import bird, exabgp
from pykeepalived.bgp.speaker import SpeakerError
from pykeepalived.clock import FakeClock
from pykeepalived.config.loader import load
from pykeepalived.config.model import KeepalivedConfig
from pykeepalived.daemon.bgp_side import BgpSide
from pykeepalived.lab.router import RouterSpec
from pykeepalived.lab.router import render as router_render

CONF = """
virtual_server 192.168.99.100 80 {
    protocol TCP
    lb_algo mh
    mh-port
    lb_kind DR
    real_server 192.168.88.10 80 {
    }
}
bgp_speaker {
    speaker %s
    local_as 65001
    local_address 192.168.88.21
    hold_time 9
    %s
    neighbor 192.168.88.1 {
        peer_as 65000
    }
    neighbor 192.168.88.2 {
        peer_as 65002
        passive
    }
}
"""


def config(speaker: str = "exabgp", extra: str = "") -> KeepalivedConfig:
    result = load("bgp.conf", text=CONF % (speaker, extra))
    assert result.config is not None, [d.render() for d in result.diagnostics]
    return result.config


def test_exabgp_config_and_commands() -> None:
    bgp = config().bgp_speaker
    assert bgp is not None
    text = exabgp.render(bgp, ["/usr/bin/python3", "-m", "pykeepalived.bgp.exabgp_helper", "/s"])
    assert "run /usr/bin/python3 -m pykeepalived.bgp.exabgp_helper /s;" in text
    assert text.count("api { processes [ pykeepalived ]; }") == 2
    assert "peer-as 65002;\n    hold-time 9;\n    local-address 192.168.88.21;\n    passive" in text
    assert "router-id 192.168.88.21;" in text
    assert exabgp.command("withdraw", "192.168.99.100/32") == (
        "withdraw route 192.168.99.100/32 next-hop self"
    )


def test_bird_config_exports_only_the_vips_with_the_same_attributes() -> None:
    bgp = config("bird", "bfd\n    bfd_interval_ms 50").bgp_speaker
    assert bgp is not None
    text = bird.render(bgp, ["192.168.99.100/32"])
    assert "protocol static vip0 { ipv4; route 192.168.99.100/32 blackhole; disabled; }" in text
    assert 'export where proto ~ "vip*"; next hop self;' in text
    assert "min rx interval 50 ms" in text
    assert text.count("bfd on;") == 2
    assert "med" not in text.lower()  # no attribute that differs between directors
    assert "passive on;" in text


def test_router_config_merges_paths() -> None:
    text = router_render(RouterSpec(router_id="10.0.0.1", local="10.0.0.1", bfd=True,
                                    peers=[("dir-1", "10.0.0.21")]))  # fmt: skip
    assert "merge paths yes;" in text
    assert "protocol bgp dir_1 {" in text
    assert "error wait time 1,2;" in text
    assert "connect delay time 1;" in text


class RecordingSpeaker:
    """Stands in for an engine: records commands, fails announcements while ``broken``."""

    name = "recording"

    def __init__(self) -> None:
        self.log: list[str] = []
        self.broken = False

    async def start(self) -> None:
        self.log.append("start")

    async def announce(self, prefix: str) -> None:
        if self.broken:
            raise SpeakerError("engine down")
        self.log.append(f"announce {prefix}")

    async def withdraw(self, prefix: str) -> None:
        self.log.append(f"withdraw {prefix}")

    async def stop(self) -> None:
        self.log.append("stop")


VS = "192.168.99.100:80/TCP"
VIP = "192.168.99.100/32"


def test_bgp_side_withdraws_first_retries_a_failed_announce_and_stops_clean() -> None:
    async def scenario() -> list[str]:
        speaker, clock, stop = RecordingSpeaker(), FakeClock(), asyncio.Event()
        side = BgpSide(config(), speaker, clock)
        await side.start()
        task = asyncio.create_task(side.run(stop))
        await asyncio.sleep(0.01)
        assert speaker.log == ["start"]  # nothing before the data plane is programmed
        speaker.broken = True
        side.after_apply({VS: True})
        await asyncio.sleep(0.01)
        assert side.core.announced == set()  # failed: not counted as announced
        speaker.broken = False
        await asyncio.sleep(1.1)  # the retry (RETRY_S) runs on the loop's time
        await side.before_apply({VS: False})
        speaker.log.append("data plane changed")
        side.after_apply({VS: False})
        side.after_apply({VS: True})
        await asyncio.sleep(0.01)
        await side.stop()
        stop.set()
        await task
        return speaker.log

    log = asyncio.run(scenario())
    assert log == [
        "start",
        f"announce {VIP}",
        f"withdraw {VIP}",
        "data plane changed",
        f"announce {VIP}",
        f"withdraw {VIP}",
        "stop",
    ]


def test_bgp_side_reload_swaps_the_rules_and_withdraws_a_vip_that_left() -> None:
    async def scenario() -> tuple[list[str], str, str]:
        speaker, stop = RecordingSpeaker(), asyncio.Event()
        side = BgpSide(config(), speaker, FakeClock())
        task = asyncio.create_task(side.run(stop))
        side.after_apply({VS: True})
        await asyncio.sleep(0.01)
        gone = config(extra="announce {\n 192.168.99.100 always\n}")
        text = CONF.replace("192.168.99.100 80", "192.168.99.101 80") % ("exabgp", "")
        moved = load("bgp.conf", text=text).config
        assert moved is not None
        same = side.reload(gone)
        await side.before_apply({VS: True})
        changed = side.reload(moved)
        await side.before_apply({"192.168.99.101:80/TCP": True})
        side.after_apply({"192.168.99.101:80/TCP": True})
        await asyncio.sleep(0.01)
        stop.set()
        await task
        return speaker.log, same, changed

    log, same, changed = asyncio.run(scenario())
    assert same == "; bgp: 1 announce rule(s)"
    assert changed == "; bgp: 1 announce rule(s)"
    assert log == [f"announce {VIP}", f"withdraw {VIP}", "announce 192.168.99.101/32"]


def test_a_withdraw_decided_while_an_announce_waits_is_sent_after_it() -> None:
    """ExaBGP still starting: the announcement waits; health is lost meanwhile. The engine must
    end withdrawn, with the withdrawal after the announcement, not lost behind it."""

    class SlowSpeaker(RecordingSpeaker):
        def __init__(self) -> None:
            super().__init__()
            self.ready = asyncio.Event()

        async def announce(self, prefix: str) -> None:
            await self.ready.wait()
            await super().announce(prefix)

    async def scenario() -> tuple[list[str], set[str]]:
        speaker, stop = SlowSpeaker(), asyncio.Event()
        side = BgpSide(config(), speaker, FakeClock())
        task = asyncio.create_task(side.run(stop))
        side.after_apply({VS: True})
        await asyncio.sleep(0.01)  # the announcement is waiting for the engine
        lost = asyncio.create_task(side.before_apply({VS: False}))
        await asyncio.sleep(0.01)
        speaker.ready.set()
        await lost
        side.after_apply({VS: False})
        await asyncio.sleep(0.01)
        stop.set()
        await task
        return speaker.log, side._sent

    log, sent = asyncio.run(scenario())
    assert log == [f"announce {VIP}", f"withdraw {VIP}"]
    assert sent == set()


def test_views_and_metric_follow_what_the_engine_acknowledged() -> None:
    from types import SimpleNamespace
    from typing import Any

    from pykeepalived.api.metrics import _bgp

    async def scenario() -> tuple[Any, Any]:
        speaker, stop = RecordingSpeaker(), asyncio.Event()
        side = BgpSide(config(), speaker, FakeClock())
        before = side.views()
        task = asyncio.create_task(side.run(stop))
        side.after_apply({VS: True})
        await asyncio.sleep(0.01)
        stop.set()
        await task
        return before, side.views()

    before, after = asyncio.run(scenario())
    assert [(v.prefix, v.gate, v.announced, v.speaker) for v in before] == [
        (VIP, "all", False, "recording")
    ]
    assert after[0].announced
    assert after[0].virtual_servers == (VS,)
    family = next(iter(_bgp(SimpleNamespace(bgp=after))))  # type: ignore[arg-type]
    assert [(s.labels, s.value) for s in family.samples] == [
        ({"prefix": VIP, "speaker": "recording"}, 1.0)
    ]
