"""BIRD 2 as our BGP engine: a generated config, one BIRD per daemon, ``birdc`` commands.

Rules: ``render`` is pure. Each announced prefix is a static protocol of its own (a blackhole
route that BIRD never installs: there is no kernel protocol), started ``disabled``; announcing
is ``birdc enable vipN``, withdrawing ``birdc disable vipN``. The BGP protocols export exactly
those static routes with ``next hop self`` and nothing else, so every director sends the same
attributes. BIRD has BFD: with ``bfd on`` a crashed director's path leaves the router after
the BFD detection time (interval x multiplier) instead of the hold time.
"""

import asyncio
import logging
import shutil

from pykeepalived.bgp.process import run, spawn, terminate
from pykeepalived.bgp.speaker import SpeakerError, state_dir
from pykeepalived.config.model_bgp import BgpSpeaker

log = logging.getLogger("pykeepalived.bgp")


def render(config: BgpSpeaker, prefixes: list[str]) -> str:
    c = config
    lines = [f"router id {c.effective_router_id};", "protocol device { scan time 10; }"]
    if c.bfd:
        lines += [
            "protocol bfd {",
            f'    interface "*" {{ min rx interval {c.bfd_interval_ms} ms; min tx interval '
            f"{c.bfd_interval_ms} ms; multiplier {c.bfd_multiplier}; }};",
            "}",
        ]
    for n, prefix in enumerate(prefixes):
        family = "ipv6" if ":" in prefix else "ipv4"
        lines.append(f"protocol static vip{n} {{ {family}; route {prefix} blackhole; disabled; }}")
    for n, peer in enumerate(c.neighbor):
        family = "ipv6" if peer.address.version == 6 else "ipv4"
        local = (
            f"local {c.local_address} as {c.local_as}"
            if c.local_address
            else f"local as {c.local_as}"
        )
        lines += [
            f"protocol bgp peer{n} {{",
            f"    {local};",
            f"    neighbor {peer.address} as {peer.peer_as};",
            f"    hold time {c.hold_time};",
            "    error wait time 1,2;",
            "    connect delay time 1;",
            f"    bfd {'on' if c.bfd else 'off'};",
        ]
        if peer.passive:
            lines.append("    passive on;")
        lines += [
            f'    {family} {{ import none; export where proto ~ "vip*"; next hop self; }};',
            "}",
        ]
    return "\n".join(lines) + "\n"


class BirdSpeaker:
    name = "bird"

    def __init__(self, config: BgpSpeaker, prefixes: list[str]) -> None:
        self.config = config
        self.prefixes = list(prefixes)
        self.dir = state_dir(config)
        self.socket = self.dir / "bird.ctl"
        self._birdc_path = "birdc"
        self._proc: asyncio.subprocess.Process | None = None

    def _programs(self) -> tuple[str, str]:
        bird = self.config.speaker_path or shutil.which("bird")
        birdc = self.config.birdc_path or shutil.which("birdc")
        if bird is None or birdc is None:
            raise SpeakerError("BIRD 2 is not installed (apt-get install bird2)")
        return bird, birdc

    async def start(self) -> None:
        bird, self._birdc_path = self._programs()
        conf = self.dir / "bird.conf"
        conf.write_text(render(self.config, self.prefixes))
        argv = [
            bird,
            "-f",
            "-c",
            str(conf),
            "-s",
            str(self.socket),
            "-P",
            str(self.dir / "bird.pid"),
        ]
        self._proc = await spawn(argv, log_path=str(self.dir / "bird.log"))
        log.info("BGP: started BIRD (pid %d), config %s", self._proc.pid, conf)
        for _ in range(100):  # the control socket answers once the config is read
            if self._proc.returncode is not None:
                break
            code, _ = await run([self._birdc_path, "-s", str(self.socket), "show", "status"])
            if code == 0:
                return
            await asyncio.sleep(0.05)
        raise SpeakerError(f"BIRD did not start (see {self.dir / 'bird.log'})")

    async def _control(self, verb: str, prefix: str) -> None:
        if prefix not in self.prefixes:
            raise SpeakerError(f"{prefix} is not in BIRD's config (reload to add it)")
        name = f"vip{self.prefixes.index(prefix)}"
        code, out = await run([self._birdc_path, "-s", str(self.socket), verb, name])
        if code != 0 or ("enabled" not in out and "disabled" not in out):
            raise SpeakerError(f"birdc {verb} {name}: {out.strip() or code}")

    async def announce(self, prefix: str) -> None:
        await self._control("enable", prefix)

    async def withdraw(self, prefix: str) -> None:
        await self._control("disable", prefix)

    async def stop(self) -> None:
        if self._proc is not None:
            await terminate(self._proc)
            self._proc = None
