"""The systemd notify protocol on real unix datagram sockets (path and abstract)."""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path

from tests.daemon.helpers import notify_fields
from twinstar.daemon.notify import Notifier, socket_address, watchdog_interval


def test_ready_status_and_stopping_arrive_as_datagrams(tmp_path: Path, notify_socket: socket.socket) -> None:
    sock = notify_socket
    n = Notifier.from_environ({"NOTIFY_SOCKET": str(tmp_path / "notify")})
    assert n.enabled and n.watchdog is None
    assert n.ready("standby; 3/4 ready\nmissing usb:1")
    got = notify_fields(sock.recv(4096))
    assert got["READY"] == "1"
    assert got["STATUS"] == "standby; 3/4 ready missing usb:1"  # one line: fields are newline-separated
    assert got["MAINPID"] == str(os.getpid())
    assert n.status("active; 4/4 ready")
    assert notify_fields(sock.recv(4096)) == {"STATUS": "active; 4/4 ready"}
    assert n.stopping()
    assert notify_fields(sock.recv(4096))["STOPPING"] == "1"
    assert not n.ping()  # no watchdog asked for


def test_abstract_namespace_socket() -> None:
    name = f"twinstar-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(5)
    try:
        n = Notifier.from_environ({"NOTIFY_SOCKET": "@" + name, "WATCHDOG_USEC": "3000000"})
        assert n.watchdog == 1.5
        assert n.ping()
        assert sock.recv(4096) == b"WATCHDOG=1"
    finally:
        sock.close()


def test_keepalive_pings_while_work_runs(tmp_path: Path, notify_socket: socket.socket) -> None:
    sock = notify_socket
    n = Notifier.from_environ({"NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": "20000"})
    with n.keepalive():
        data = sock.recv(4096)  # arrives while the "work" (this block) runs
    assert data == b"WATCHDOG=1"


def test_watchdog_honours_watchdog_pid() -> None:
    env = {"WATCHDOG_USEC": "1000000"}
    assert watchdog_interval(env, 42) == 0.5
    assert watchdog_interval({**env, "WATCHDOG_PID": "42"}, 42) == 0.5
    assert watchdog_interval({**env, "WATCHDOG_PID": "43"}, 42) is None
    assert watchdog_interval({"WATCHDOG_USEC": "soon"}, 42) is None
    assert watchdog_interval({"WATCHDOG_USEC": "0"}, 42) is None
    assert watchdog_interval({}, 42) is None


def test_without_socket_everything_is_a_no_op() -> None:
    n = Notifier.from_environ({})
    assert not n.enabled
    assert not n.ready("x") and not n.ping() and not n.stopping()
    assert socket_address("relative/path") is None
    assert Notifier.from_environ({"NOTIFY_SOCKET": "relative"}).enabled is False


def test_a_vanished_socket_is_not_an_error(tmp_path: Path) -> None:
    n = Notifier.from_environ({"NOTIFY_SOCKET": str(tmp_path / "gone.sock")})
    assert n.enabled
    assert n.send(READY=1) is False
    assert n.send(READY=1) is False
