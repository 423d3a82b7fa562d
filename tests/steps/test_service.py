"""The ``service`` step.

sysv: real processes. A small LSB init script in a temporary directory
starts a real daemon (an HTTP server on 127.0.0.1, random port); the only
stand-in is ``service`` itself (tests/support/standins/service.py), pointed at that
directory instead of /etc/init.d through ``programs: {service: ...}``.

systemd: the step against real units under a real systemd is in
tests/systemd/test_service_step.py (start, stop, a start timeout, failing
units, Debian's apache2.service). Here ``systemctl`` is a call-recording
stand-in (tests/support/standins/systemctl.py) only for what a real systemd
cannot show deterministically: the exact calls and the polling back-off,
``--`` before a unit name that load refuses anyway, and the paths after a
*successful* ``systemctl start`` (a unit that is still activating or has
failed by the first ``is-active``), which real start jobs reach only by races.
"""

from __future__ import annotations

import json
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.rigs import STANDINS, kill_if_alive, sysv_service
from tests.support.standins import write_python_wrapper
from twinstar.config import Config, ServiceManager, ServiceSpec
from twinstar.engine.proc import ProgramRunner
from twinstar.errors import StepError
from twinstar.steps.base import StepContext
from twinstar.steps.service import ServiceStep, resolve_manager

# The programs twinstar runs in this process (tests/conftest.py fails any other).
pytestmark = pytest.mark.programs("service", "systemctl")


@dataclass
class Sysv:
    dir: Path
    ctx: StepContext

    @property
    def pidfile(self) -> Path:
        return self.dir / "pbxweb.pid"

    def pid(self) -> int | None:
        try:
            return int(self.pidfile.read_text())
        except FileNotFoundError:
            return None

    def step(self, name: str = "pbxweb", timeout: float = 10.0) -> ServiceStep:
        return ServiceStep(ServiceSpec(service=name, manager=ServiceManager.SYSV, timeout=timeout), self.ctx)


def make_sysv(tmp_path: Path, start_cmd: str | None = None) -> Sysv:
    service = sysv_service(tmp_path, start_cmd)
    config = Config(source="test", node="test", state_dir=str(tmp_path), programs=(("service", str(service)),))
    return Sysv(tmp_path, StepContext(config=config, runner=ProgramRunner(programs=config.program_map)))


@pytest.fixture
def sysv(tmp_path: Path) -> Iterator[Sysv]:
    s = make_sysv(tmp_path)
    yield s
    pid = s.pid()
    if pid is not None:
        kill_if_alive(pid)


def test_sysv_start_waits_until_running_and_stop_until_stopped(sysv: Sysv) -> None:
    step = sysv.step()
    assert step.programs() == ("service",)
    assert step.check().up is False
    step.apply()
    step.verify()
    pid = sysv.pid()
    assert pid is not None and Path(f"/proc/{pid}").exists()
    # The daemon is real: it serves HTTP.
    port = int((sysv.dir / "port").read_text())
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as reply:
        assert reply.status == 200

    step.undo()
    step.verify_undone()
    assert sysv.pid() is None
    status = subprocess.run([str(sysv.dir / "init.d" / "pbxweb"), "status"], timeout=10)
    assert status.returncode == 3


def test_sysv_apply_when_running_starts_nothing_new(sysv: Sysv) -> None:
    step = sysv.step()
    step.apply()
    first = sysv.pid()
    step.apply()
    assert sysv.pid() == first


def test_sysv_daemon_that_dies_at_once_fails_at_the_timeout(tmp_path: Path) -> None:
    s = make_sysv(tmp_path, "true")  # start "succeeds" but nothing runs
    clock = [0.0]
    s.ctx.monotonic = lambda: clock[0]
    s.ctx.sleep = lambda t: clock.__setitem__(0, clock[0] + t)
    with pytest.raises(StepError, match=r"pbxweb not running within 3 s \(last: status exited 3\)"):
        s.step(timeout=3.0).apply()


def test_sysv_start_failure_is_reported(tmp_path: Path) -> None:
    s = make_sysv(tmp_path, 'echo "pbxweb: cannot bind port" >&2; exit 1')
    with pytest.raises(StepError, match="start failed: .*exited with status 1; stderr: pbxweb: cannot bind port"):
        s.step().apply()


def test_sysv_unknown_service(sysv: Sysv) -> None:
    with pytest.raises(StepError, match="start failed: .*nosuch: unrecognized service"):
        sysv.step("nosuch").apply()


# --- systemd, through the call-recording systemctl ---------------------------------------


@dataclass
class Systemd:
    state: Path
    ctx: StepContext
    slept: list[float]

    def step(self, timeout: float = 10.0, service: str = "asterisk") -> ServiceStep:
        return ServiceStep(ServiceSpec(service=service, manager=ServiceManager.SYSTEMD, timeout=timeout), self.ctx)

    def set_unit(self, unit_name: str = "asterisk", **unit: object) -> None:
        data = json.loads(self.state.read_text())
        data["units"][unit_name] = {"state": "inactive", **unit}
        self.state.write_text(json.dumps(data))

    def calls(self) -> list[list[str]]:
        return json.loads(self.state.read_text())["calls"]


@pytest.fixture
def systemd(tmp_path: Path) -> Systemd:
    state = tmp_path / "systemctl.json"
    state.write_text(json.dumps({"units": {}, "calls": []}))
    systemctl = write_python_wrapper(tmp_path / "systemctl", STANDINS / "systemctl.py", str(state))
    config = Config(source="test", node="test", state_dir=str(tmp_path), programs=(("systemctl", str(systemctl)),))
    slept: list[float] = []
    ctx = StepContext(config=config, runner=ProgramRunner(programs=config.program_map), sleep=slept.append)
    return Systemd(state, ctx, slept)


def test_systemd_start_polls_is_active_then_stop_polls_until_inactive(systemd: Systemd) -> None:
    systemd.set_unit(start_polls=2, stop_polls=1)
    step = systemd.step()
    assert step.programs() == ("systemctl",)
    step.apply()
    assert systemd.calls() == [
        ["start", "--", "asterisk"],
        ["is-active", "--", "asterisk"],  # activating
        ["is-active", "--", "asterisk"],  # activating
        ["is-active", "--", "asterisk"],  # active
    ]
    assert len(systemd.slept) == 2 and systemd.slept[0] < systemd.slept[1]
    step.verify()  # the wait's last read ("active", after the start) is the verify's
    assert len(systemd.calls()) == 4

    data = json.loads(systemd.state.read_text())
    data["calls"] = []
    systemd.state.write_text(json.dumps(data))
    step.undo()
    step.verify_undone()
    assert systemd.calls() == [
        ["stop", "--", "asterisk"],
        ["is-active", "--", "asterisk"],  # deactivating
        ["is-active", "--", "asterisk"],  # inactive: also verify_undone's read
    ]


def test_the_verify_reads_again_when_the_waits_last_read_is_old_or_was_used(systemd: Systemd) -> None:
    """The wait's last read stands for the verify's once, and only while fresh (``service.FRESH``)."""
    from twinstar.steps import service

    systemd.set_unit(start_polls=0)
    clock = [0.0]
    systemd.ctx.monotonic = lambda: clock[0]
    step = systemd.step()
    step.apply()
    assert systemd.calls() == [["start", "--", "asterisk"], ["is-active", "--", "asterisk"]]
    clock[0] += service.FRESH + 0.1
    step.verify()
    assert len(systemd.calls()) == 3  # too old: read again
    step.verify()
    assert len(systemd.calls()) == 4  # used once already: read again
    systemd.set_unit(start_polls=0, start_result="failed")
    with pytest.raises(StepError, match="failed while starting"):
        step.apply()
    with pytest.raises(StepError, match="not up after apply"):
        step.verify()  # a failed wait leaves no read behind: read again
    assert len(systemd.calls()) == 7


def test_systemctl_gets_the_unit_after_double_dash(systemd: Systemd) -> None:
    """The unit is a positional argument after ``--``: even a name starting with ``-``
    (refused at load already) cannot reach systemctl as an option."""
    systemd.set_unit("-asterisk")
    step = systemd.step(service="-asterisk")
    step.apply()
    step.undo()
    calls = systemd.calls()
    assert calls[0] == ["start", "--", "-asterisk"] and ["stop", "--", "-asterisk"] in calls
    assert all(call[1:] == ["--", "-asterisk"] for call in calls)


def test_systemd_failed_unit_stops_the_wait(systemd: Systemd) -> None:
    systemd.set_unit(start_polls=1, start_result="failed")
    with pytest.raises(StepError, match="asterisk failed while starting.*journalctl -u asterisk"):
        systemd.step().apply()
    assert systemd.calls() == [["start", "--", "asterisk"], ["is-active", "--", "asterisk"], ["is-active", "--", "asterisk"]]


def test_systemd_never_active_fails_at_the_timeout(systemd: Systemd) -> None:
    systemd.set_unit(start_polls=10**6)
    clock = [0.0]
    systemd.ctx.monotonic = lambda: clock[0]
    systemd.ctx.sleep = lambda t: clock.__setitem__(0, clock[0] + t)
    with pytest.raises(StepError, match=r"asterisk not running within 2 s \(last: activating\)"):
        systemd.step(timeout=2.0).apply()
    assert clock[0] == pytest.approx(2.0)


@pytest.mark.parametrize(
    "mode, systemd_running, expected",
    [
        (ServiceManager.AUTO, True, ServiceManager.SYSTEMD),
        (ServiceManager.AUTO, False, ServiceManager.SYSV),
        (ServiceManager.SYSV, True, ServiceManager.SYSV),
        (ServiceManager.SYSTEMD, False, ServiceManager.SYSTEMD),
    ],
)
def test_resolve_manager(mode: ServiceManager, systemd_running: bool, expected: ServiceManager) -> None:
    assert resolve_manager(mode, systemd_running=systemd_running) is expected


def test_auto_follows_the_systemd_runtime_directory(tmp_path: Path, systemd: Systemd) -> None:
    step = ServiceStep(ServiceSpec(service="asterisk"), systemd.ctx)
    step.systemd_runtime_dir = str(tmp_path / "run-systemd-system")
    assert step.programs() == ("service",)
    (tmp_path / "run-systemd-system").mkdir()
    assert step.programs() == ("systemctl",) and step.manager is ServiceManager.SYSTEMD
