"""sd_notify from the daemon loop, SIGHUP reloads, SIGTERM/SIGINT stops.

In-process: real signals to this process go through the daemon's wakeup
pipe; notifications arrive on a real unix datagram socket.
"""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path

import pytest

from tests.daemon.helpers import (
    FakeMonitor,
    arrive,
    make_daemon,
    pending,
    role,
    sysfs,
    transitions,
    write_config,
)
from twinstar.daemon.notify import Notifier

# The programs twinstar runs in this process (tests/conftest.py fails any other).
pytestmark = pytest.mark.programs("rm", "test", "touch")


def test_ready_only_after_the_first_evaluation(tmp_path: Path, notify_socket: socket.socket) -> None:
    fake = sysfs(tmp_path)
    arrive(fake, 0)
    notifier = Notifier(address=str(tmp_path / "notify"))
    daemon = make_daemon(write_config(tmp_path, 2), FakeMonitor(), notifier)
    assert pending(notify_socket) == []
    daemon.start()
    try:
        sent = pending(notify_socket)
        assert sent[0]["READY"] == "1"
        assert daemon.evaluations == 1
        assert sent[0]["STATUS"].startswith("standby; 1/2 ready, missing usb:00000001")
    finally:
        daemon.stop()
    assert pending(notify_socket)[-1]["STOPPING"] == "1"


def test_status_follows_the_role_and_watchdog_pings(tmp_path: Path, notify_socket: socket.socket) -> None:
    fake = sysfs(tmp_path)
    clock = [500.0]
    monitor = FakeMonitor()
    notifier = Notifier(address=str(tmp_path / "notify"), watchdog=5.0)
    daemon = make_daemon(write_config(tmp_path, 1), monitor, notifier)
    daemon.monotonic = lambda: clock[0]
    daemon.start()
    try:
        pending(notify_socket)
        arrive(fake, 0, monitor)
        daemon.run_once(0)
        statuses = [m["STATUS"] for m in pending(notify_socket) if "STATUS" in m]
        assert statuses[-1] == "active; 1/1 ready"
        clock[0] += 5.0
        daemon.run_once(0)
        assert {"WATCHDOG": "1"} in pending(notify_socket)
    finally:
        daemon.stop()


def test_sighup_with_a_valid_configuration_reloads(tmp_path: Path, notify_socket: socket.socket) -> None:
    path = write_config(tmp_path, 1)
    daemon = make_daemon(path, FakeMonitor(), Notifier(address=str(tmp_path / "notify")))
    daemon.start()
    try:
        assert daemon.config.daemon.check_interval == 10.0
        write_config(tmp_path, 1, daemon="daemon: {check_interval: 3, on_step_down: restart}\n")
        pending(notify_socket)
        os.kill(os.getpid(), signal.SIGHUP)
        daemon.run_once(0)
        assert daemon.config.daemon.check_interval == 3.0
        assert daemon.snapshot()["last_reload"]["ok"] is True
        sent = pending(notify_socket)
        assert sent[0]["RELOADING"] == "1" and "MONOTONIC_USEC" in sent[0]
        assert sent[-1]["READY"] == "1"
        assert not daemon.stopping
    finally:
        daemon.stop()


@pytest.mark.parametrize(
    "bad",
    [
        "daemon: {check_intervall: 3}\ntakeover: []\n",  # unknown key
        "takeover: [\n",  # YAML syntax
        "takeover:\n  - command: {name: x, start: [/nonexistent/prog], stop: [/bin/true]}\n",  # program missing
    ],
)
def test_sighup_with_an_invalid_configuration_keeps_the_old_one(tmp_path: Path, bad: str) -> None:
    fake = sysfs(tmp_path)
    monitor = FakeMonitor()
    path = write_config(tmp_path, 1)
    daemon = make_daemon(path, monitor)
    daemon.start()
    try:
        old = daemon.config
        path.write_text(bad)
        os.kill(os.getpid(), signal.SIGHUP)
        daemon.run_once(0)
        assert daemon.config is old
        snap = daemon.snapshot()
        assert snap["last_reload"]["ok"] is False
        assert "keeping the previous configuration" in snap["last_error"]["message"]
        assert str(path) in snap["last_error"]["message"]
        # Still running on the old configuration: events still act.
        arrive(fake, 0, monitor)
        daemon.run_once(0)
        assert transitions(tmp_path / "state") == ["takeover"]
    finally:
        daemon.stop()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_sigint_stop_without_releasing(tmp_path: Path, sig: signal.Signals) -> None:
    fake = sysfs(tmp_path)
    for i in range(2):
        arrive(fake, i)
    monitor = FakeMonitor()
    daemon = make_daemon(write_config(tmp_path, 2), monitor)
    before = signal.getsignal(sig)
    daemon.start()  # the first evaluation takes over
    assert role(tmp_path / "state") == "active"
    os.kill(os.getpid(), sig)
    daemon.run_once(0)
    assert daemon.stopping
    daemon.stop()
    assert signal.getsignal(sig) == before and monitor.closed
    assert role(tmp_path / "state") == "active"
    assert (tmp_path / "up-1").exists() and (tmp_path / "up-2").exists()
    assert transitions(tmp_path / "state") == ["takeover"]
    assert daemon.snapshot()["stopped"] is not None


def test_release_on_stop_releases(tmp_path: Path) -> None:
    fake = sysfs(tmp_path)
    arrive(fake, 0)
    daemon = make_daemon(write_config(tmp_path, 1, daemon="daemon: {release_on_stop: true}\n"), FakeMonitor())
    daemon.start()
    assert role(tmp_path / "state") == "active"
    os.kill(os.getpid(), signal.SIGTERM)
    daemon.run_once(0)
    daemon.stop()
    assert role(tmp_path / "state") == "standby"
    assert not (tmp_path / "up-1").exists()
    assert transitions(tmp_path / "state") == ["takeover", "release"]
