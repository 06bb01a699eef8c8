"""notify_priority_changes in real daemons: the notify FIFO gets keepalived's
``INSTANCE "NAME" MASTER_PRIORITY N`` / ``BACKUP_PRIORITY N`` lines, in order with the state
lines, when a tracked file moves ``a``'s priority (100 -> 80 < b's 99 -> 100); with both
notify_fifo and vrrp_notify_fifo set, each gets every line. The same run with keepalived 2.2.7
as ``a`` writes the same lines to both.
"""

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .vrrplab import VIP, VrrpLab, config, instance_conf, vrrp_lab, wait_sole

pytestmark = pytest.mark.root
NAME = "HA_WebServer"


@pytest.fixture
def lab() -> Iterator[VrrpLab]:
    with vrrp_lab() as network:
        yield network


class FifoReader:
    """The read end of a notify FIFO, opened before the daemon so no line is lost."""

    def __init__(self, path: Path) -> None:
        os.mkfifo(path)
        self.fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        self.lines: list[str] = []
        self._rest = b""

    def wait_for(self, line: str, count: int = 1, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while self.lines.count(line) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{line!r} not in {self.lines}")
            with contextlib.suppress(BlockingIOError):
                data = os.read(self.fd, 4096)
                *done, self._rest = (self._rest + data).split(b"\n")
                self.lines += [d.decode() for d in done]
            time.sleep(0.02)


@pytest.mark.parametrize("impl", ["py", "ka"])
def test_priority_changes_reach_the_fifo(lab: VrrpLab, tmp_path: Path, impl: str) -> None:
    fifo, vrrp_fifo = FifoReader(tmp_path / "fifo"), FifoReader(tmp_path / "vrrp_fifo")
    prio = tmp_path / "prio"
    prio.write_text("0\n")
    track = f"vrrp_track_file tf {{\n    file {prio}\n    weight 1\n}}\n"
    extra = "track_file {\n    tf\n}\nnotify_priority_changes"
    lab.start("b", config(instance_conf(priority=99)))
    conf = config(track, instance_conf(priority=100, extra=extra),
                  global_defs=f"    notify_fifo {tmp_path / 'fifo'}\n"
                              f"    vrrp_notify_fifo {tmp_path / 'vrrp_fifo'}\n")  # fmt: skip
    try:
        lab.start("a", conf, impl=impl)
        wait_sole(lab, VIP, "a", timeout=20)
        prio.write_text("-20\n")
        fifo.wait_for(f'INSTANCE "{NAME}" BACKUP 80')
        prio.write_text("0\n")
        fifo.wait_for(f'INSTANCE "{NAME}" BACKUP_PRIORITY 100')
        fifo.wait_for(f'INSTANCE "{NAME}" MASTER 100', count=2)
        vrrp_fifo.wait_for(f'INSTANCE "{NAME}" MASTER 100', count=2)  # both get every line
    finally:
        os.close(fifo.fd)
        os.close(vrrp_fifo.fd)
    assert vrrp_fifo.lines == fifo.lines
    lines = [line.removeprefix(f'INSTANCE "{NAME}" ') for line in fifo.lines]
    start = lines.index("MASTER 100")
    assert lines[start:] == [
        "MASTER 100",
        "MASTER_PRIORITY 80",  # priority first, while still MASTER
        "BACKUP 80",
        "BACKUP_PRIORITY 100",
        "MASTER 100",
    ]
