"""sd_notify datagrams reach NOTIFY_SOCKET, and nothing happens outside systemd."""

import socket
from pathlib import Path

import pytest

from pykeepalived import sdnotify


def test_ready_reloading_stopping_reach_the_socket(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(str(path))
        monkeypatch.setenv("NOTIFY_SOCKET", str(path))
        assert sdnotify.ready("running")
        assert server.recv(200) == b"READY=1\nSTATUS=running"
        assert sdnotify.reloading()
        assert server.recv(200).startswith(b"RELOADING=1\nMONOTONIC_USEC=")
        assert sdnotify.stopping()
        assert server.recv(200) == b"STOPPING=1"


def test_outside_systemd_it_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert not sdnotify.ready()


def test_a_dead_socket_is_not_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "nobody-listens"))
    assert not sdnotify.stopping()
