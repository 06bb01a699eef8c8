"""``pykeepalived status`` from a JSON dump and from the API."""

import json
from pathlib import Path

import pytest
from tests.api.fakes import FakeDaemon
from tests.api.test_dashboard import Served

from pykeepalived.api.http import dump_snapshot
from pykeepalived.cli import main


def test_status_from_a_dump_file_prints_tables(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dump = tmp_path / "snap.json"
    dump.write_text(dump_snapshot(FakeDaemon().snap))
    assert main(["status", "--file", str(dump)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    vi = next(line for line in lines if line.startswith("VI_1"))
    assert vi.split()[:5] == ["VI_1", "MASTER", "100", "192.168.88.100/24", "this"]
    assert "BACKUP->MASTER" in vi
    assert "Virtual server 192.168.88.100:80/TCP  rr DR  quorum up" in out
    rs = next(line for line in lines if line.startswith("192.168.88.11:80"))
    assert rs.split()[:4] == ["192.168.88.11:80", "up", "1", "1/1"]
    assert "HTTP_GET #0 200 300.0ms" in rs
    assert "[vrrp] event 4" in out


def test_status_from_the_api(token_file: str, capsys: pytest.CaptureFixture[str]) -> None:
    served = Served(token_file)
    served.thread.start()
    assert served.ready.wait(10)
    try:
        assert main(["status", "--api", f"127.0.0.1:{served.port}", "--json"]) == 0
    finally:
        served.close()
    snap = json.loads(capsys.readouterr().out)
    assert [rs["address"] for rs in snap["virtual_servers"][0]["real_servers"]] == [
        "192.168.88.10",
        "192.168.88.11",
    ]


def test_status_errors_are_clear(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status"]) == 2
    assert "give --api URL" in capsys.readouterr().err
    assert main(["status", "--file", str(tmp_path / "missing.json")]) == 1
    assert "cannot read the state" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text('{"version": "x"}')
    assert main(["status", "--file", str(bad)]) == 1
    assert "is not a pykeepalived snapshot" in capsys.readouterr().err
    assert main(["status", "--api", "127.0.0.1:1"]) == 1
    assert "cannot read the state from 127.0.0.1:1" in capsys.readouterr().err


def test_status_reads_the_daemons_sigusr1_json_dump_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The daemon's /tmp/keepalived.json (config.dump.to_data of the snapshot) is accepted."""
    from pykeepalived.config.dump import to_data

    dump = tmp_path / "keepalived.json"
    dump.write_text(json.dumps(to_data(FakeDaemon().snap), default=str))
    assert main(["status", "--file", str(dump)]) == 0
    assert "192.168.88.11:80  up" in capsys.readouterr().out


def test_status_marks_an_instance_held_by_release_master(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import dataclasses

    snap = FakeDaemon().snap
    held = dataclasses.replace(snap.instances[0], state="BACKUP", held=True, held_by="api")
    dump = tmp_path / "snap.json"
    dump.write_text(dump_snapshot(dataclasses.replace(snap, instances=(held,))))
    assert main(["status", "--file", str(dump)]) == 0
    vi = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("VI_1"))
    assert vi.split()[1] == "BACKUP,held"
