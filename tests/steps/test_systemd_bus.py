"""The system-bus client of the ``service`` step (:mod:`twinstar.steps.systemd_bus`), without systemd.

Real parts: a ``dbus-daemon`` of this test's own (a private bus on a socket
in the test's directory, on which systemd is not), Unix sockets that refuse
or never answer, and the step's ``systemctl`` fallback (the call-recording
stand-in of tests/steps/test_service.py). The client against a real systemd:
tests/systemd/test_service_step.py.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.rigs import STANDINS
from tests.support.standins import write_python_wrapper
from twinstar.config import Config, ServiceManager, ServiceSpec
from twinstar.engine.proc import ProgramRunner
from twinstar.steps.base import StepContext
from twinstar.steps.service import ServiceStep
from twinstar.steps.service_spec import unit_name
from twinstar.steps.systemd_bus import BusUnavailable, SystemdBus, unit_path

pytestmark = pytest.mark.programs("systemctl")


@pytest.mark.parametrize(
    ("given", "unit"),
    [
        ("mariadb", "mariadb.service"),
        ("mariadb.service", "mariadb.service"),
        ("getty@tty1", "getty@tty1.service"),
        ("dbus.socket", "dbus.socket"),
        ("network-online.target", "network-online.target"),
        ("asterisk.old", "asterisk.old.service"),
    ],
)
def test_a_name_without_a_unit_type_is_a_service_as_systemctl_takes_it(given: str, unit: str) -> None:
    assert unit_name(given) == unit


@pytest.mark.parametrize(
    ("unit", "path"),
    [
        ("mariadb.service", "mariadb_2eservice"),
        ("tss-slow.service", "tss_2dslow_2eservice"),
        ("getty@tty1.service", "getty_40tty1_2eservice"),
        ("9lives.service", "_39lives_2eservice"),  # a leading digit is escaped, later ones are not
        ("a_b.service", "a_5fb_2eservice"),
    ],
)
def test_a_unit_object_path_is_the_name_escaped_as_sd_bus_does(unit: str, path: str) -> None:
    assert unit_path(unit) == "/org/freedesktop/systemd1/unit/" + path


@pytest.fixture
def private_bus(tmp_path: Path) -> Iterator[str]:
    """A dbus-daemon of this test's own: a bus on which systemd is not."""
    if shutil.which("dbus-daemon") is None:
        pytest.fail("dbus-daemon is missing: install dbus (systemd's Debian package recommends it)")
    address = f"unix:path={tmp_path / 'bus'}"
    proc = subprocess.Popen(
        ["dbus-daemon", "--session", "--nofork", "--nopidfile", f"--address={address}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 10
        while not (tmp_path / "bus").exists():
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "the test's dbus-daemon did not make its socket"
            time.sleep(0.01)
        yield address
    finally:
        proc.kill()
        proc.wait()


def test_a_bus_without_systemd_is_unavailable_and_nothing_is_asked(private_bus: str) -> None:
    with SystemdBus.connect(2.0, address=private_bus) as bus:
        with pytest.raises(BusUnavailable, match="systemd is not on the system bus"):
            bus.active_state("mariadb.service", 2.0)
        with pytest.raises(BusUnavailable, match="systemd is not on the system bus"):
            bus.run_job("StartUnit", "mariadb.service", 2.0)


def test_no_bus_socket_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(BusUnavailable, match="cannot connect to the system bus"):
        SystemdBus.connect(2.0, address=f"unix:path={tmp_path / 'none'}")


def test_a_bus_that_never_answers_is_unavailable_within_the_timeout(tmp_path: Path) -> None:
    """A socket that accepts and then stays silent (a wedged bus daemon): the connect ends at its timeout."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(tmp_path / "silent"))
    listener.listen(1)
    try:
        began = time.monotonic()
        with pytest.raises(BusUnavailable):
            SystemdBus.connect(0.3, address=f"unix:path={tmp_path / 'silent'}")
        assert time.monotonic() - began < 5
    finally:
        listener.close()


def test_a_bus_that_authenticates_and_then_stays_silent_is_unavailable_within_the_timeout(tmp_path: Path) -> None:
    """A wedged bus daemon that still finishes the authentication (a few lines of this test's own: a real
    dbus-daemon cannot be made to stop between the two): the greeting ends at the timeout, not never."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(tmp_path / "wedged"))
    listener.listen(1)
    held: list[socket.socket] = []

    def serve() -> None:
        peer, _ = listener.accept()
        held.append(peer)
        data = b""
        while b"\r\n" not in data:
            data += peer.recv(1024)
        peer.sendall(b"OK 0123456789abcdef0123456789abcdef\r\n")  # then BEGIN and Hello come, and no answer

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        began = time.monotonic()
        with pytest.raises(BusUnavailable, match=r"did not greet: no answer within 0.3 s"):
            SystemdBus.connect(0.3, address=f"unix:path={tmp_path / 'wedged'}")
        assert time.monotonic() - began < 5
    finally:
        thread.join(5)
        for peer in held:
            peer.close()
        listener.close()


def test_the_service_step_runs_systemctl_when_systemd_is_not_on_the_bus(tmp_path: Path, private_bus: str) -> None:
    """The fallback: the step connects, finds no systemd, and drives the (stand-in) systemctl instead."""
    state = tmp_path / "systemctl.json"
    state.write_text(json.dumps({"units": {"asterisk": {"state": "inactive"}}, "calls": []}))
    systemctl = write_python_wrapper(tmp_path / "systemctl", STANDINS / "systemctl.py", str(state))
    config = Config(source="test", node="test", state_dir=str(tmp_path), programs=(("systemctl", str(systemctl)),))
    connects: list[float] = []

    def connect(timeout: float) -> SystemdBus:
        connects.append(timeout)
        return SystemdBus.connect(timeout, address=private_bus)

    ctx = StepContext(config=config, runner=ProgramRunner(programs=config.program_map), sleep=lambda s: None, systemd_bus=connect)
    step = ServiceStep(ServiceSpec(service="asterisk", manager=ServiceManager.SYSTEMD, timeout=10), ctx)
    assert not step.check().up
    step.apply()
    step.verify()
    assert json.loads(state.read_text())["calls"] == [["is-active", "--", "asterisk"], ["start", "--", "asterisk"], ["is-active", "--", "asterisk"]]
    assert len(connects) == 3  # each asked the bus first
