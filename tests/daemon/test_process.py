"""The real ``twinstar daemon`` process: notify protocol, watchdog, SIGTERM.

Runs ``python -m twinstar daemon --source kernel`` with ``$NOTIFY_SOCKET`` on
a real unix datagram socket and ``$WATCHDOG_USEC`` set, over a fake sysfs
tree (no Astribank driver here) whose units are already READY, so the
daemon's first evaluation takes over with real command steps.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

from tests.daemon.helpers import (
    arrive,
    pending,
    receive,
    role,
    start_process,
    stop_process,
    sysfs,
    transitions,
    write_config,
)
from twinstar import settings as tsettings


def test_ready_status_watchdog_then_sigterm_leaves_resources(tmp_path: Path, notify_socket: socket.socket) -> None:
    fake = sysfs(tmp_path)
    for i in range(2):
        arrive(fake, i)
    config = write_config(tmp_path, 2)
    proc = start_process(config, env={"NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": "400000"})
    try:
        first = receive(notify_socket)
        assert first["READY"] == "1", first
        assert first["STATUS"] == "active; 2/2 ready"  # READY came after the first evaluation
        assert first["MAINPID"] == str(proc.pid)
        seen = [receive(notify_socket) for _ in range(3)]
        assert {"WATCHDOG": "1"} in seen
        daemon_json = json.loads((tmp_path / "state" / tsettings.DAEMON_STATE_FILE).read_text())
        assert daemon_json["pid"] == proc.pid and daemon_json["role"] == "active"
    finally:
        status, err = stop_process(proc)
    assert status == 0, err
    assert "Traceback" not in err
    last = receive(notify_socket)
    while "STOPPING" not in last:  # pings may come before STOPPING
        last = receive(notify_socket)
    assert last["STOPPING"] == "1"
    assert role(tmp_path / "state") == "active"
    assert (tmp_path / "up-1").exists() and (tmp_path / "up-2").exists()
    assert transitions(tmp_path / "state") == ["takeover"]


def test_invalid_configuration_exits_2_before_starting(tmp_path: Path, notify_socket: socket.socket) -> None:
    config = write_config(tmp_path, 1, daemon="daemon: {on_step_down: reboot}\n")
    proc = start_process(config, env={"NOTIFY_SOCKET": str(tmp_path / "notify")})
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert "daemon.on_step_down" in err and "Traceback" not in err, err
    assert pending(notify_socket) == []  # never READY
