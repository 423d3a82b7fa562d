"""The ``service`` step: start a system service and wait until it reports running.

``manager: auto`` drives systemd when it runs (``/run/systemd/system``
exists, as sd_booted(3) checks), else the SysV/LSB way through ``service``.

* systemd: start the unit and wait for its job, then poll its state until
  ``active`` (``failed`` ends the wait at once); undo: stop it, poll until
  ``inactive`` or ``failed``. Over the system bus
  (:mod:`twinstar.steps.systemd_bus`), as ``systemctl start``, ``stop`` and
  ``is-active`` do, without a process each; through those ``systemctl``
  commands (``systemctl start -- NAME``) when systemd cannot be reached
  there (no D-Bus daemon).
* sysv: ``service NAME start``, poll ``service NAME status`` until it exits 0;
  undo: ``service NAME stop``, poll until status exits 1, 2 or 3 (LSB: not
  running). Which init scripts run is ``service``'s business; the
  ``programs: {service: PATH}`` override points it elsewhere (the tests do).

Release stops the service unless the manager says it is stopped
(``activating`` or an unknown status is stopped too).

Each of apply and undo has the step's ``timeout`` for the command and the
wait together. The wait's last read, taken after the command, is the
verify's read back (when at most ``FRESH`` seconds old): a second read at
once would only cost another ``systemctl`` process on the way to the next
service.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypeVar

from twinstar import settings
from twinstar.errors import ProgramError, StepError
from twinstar.steps.base import Probe, RecentReading, Step, StepContext
from twinstar.steps.service_spec import ServiceManager, ServiceSpec, unit_name
from twinstar.steps.systemd_bus import BusError, BusUnavailable, JobLost, SystemdBus

T = TypeVar("T")

#: LSB init-script status exit codes meaning "not running".
LSB_STOPPED = frozenset({1, 2, 3})
#: ``systemctl is-active`` states meaning the unit is down.
SYSTEMD_STOPPED = frozenset({"inactive", "failed"})
_POLL_START = 0.05
_POLL_MAX = 0.5
#: The least time a state read gets, also the last one at the deadline (a loaded machine needs it).
_STATE_READ_MIN = 1.0
#: How old the wait's last read may be to stand for the verify's (seconds).
FRESH = 1.0
#: The longest wait for the system bus's greeting (seconds): a bus that takes longer is not used.
BUS_CONNECT = 1.0
#: The systemd methods for an action.
JOB_METHODS = {"start": "StartUnit", "stop": "StopUnit"}


def resolve_manager(mode: ServiceManager, *, systemd_running: bool) -> ServiceManager:
    """The manager to drive: the configured one, or for ``auto`` the one that runs."""
    if mode is not ServiceManager.AUTO:
        return mode
    return ServiceManager.SYSTEMD if systemd_running else ServiceManager.SYSV


class ServiceStep(Step):
    kind = "service"
    check_at_start = True

    #: Exists when systemd is the running init (sd_booted); replaceable for tests.
    systemd_runtime_dir: str = settings.SYSTEMD_RUNTIME_DIR

    def __init__(self, spec: ServiceSpec, ctx: StepContext) -> None:
        super().__init__(spec.name, spec.timeout, ctx)
        self.spec = spec
        self.unit = unit_name(spec.service)  # as systemd knows it
        self._read_back: RecentReading[tuple[bool, bool, str]] = RecentReading(ctx.monotonic, FRESH)
        self._said_no_bus = False

    @property
    def manager(self) -> ServiceManager:
        return resolve_manager(self.spec.manager, systemd_running=os.path.isdir(self.systemd_runtime_dir))

    def programs(self) -> tuple[str, ...]:
        return ("systemctl",) if self.manager is ServiceManager.SYSTEMD else ("service",)

    def _argv(self, action: str) -> list[str]:
        """systemctl ends its options at "--"; ``service`` has no "--" (it would be
        the service name), so there the name's validation at load is all."""
        if self.manager is ServiceManager.SYSTEMD:
            return ["systemctl", action, "--", self.spec.service]
        return ["service", self.spec.service, action]

    def _over_bus(self, timeout: float, use: Callable[[SystemdBus], T]) -> T | None:
        """``use`` on a connection to systemd's manager; None when systemd cannot be reached over the system
        bus (nothing was asked of it: the caller runs ``systemctl``)."""
        connect = self.ctx.systemd_bus
        if connect is None or self.manager is not ServiceManager.SYSTEMD:
            return None
        try:
            with connect(min(timeout, BUS_CONNECT)) as bus:
                return use(bus)
        except BusUnavailable as exc:
            if not self._said_no_bus:
                self._said_no_bus = True
                self.ctx.log.info("%s: %s; using systemctl", self.name, exc)
            return None

    def _state(self, timeout: float) -> tuple[bool, bool, str]:
        """(running, stopped, what the manager said)."""
        timeout = max(timeout, _STATE_READ_MIN)
        try:
            state = self._over_bus(timeout, lambda bus: bus.active_state(self.unit, timeout))
        except (BusError, TimeoutError) as exc:
            said = str(exc) or f"no answer within {timeout:g} s"  # a TimeoutError says nothing itself
            raise StepError(self.name, f"cannot read the state of {self.unit} from systemd: {said}") from None
        if state is not None:
            return state == "active", state in SYSTEMD_STOPPED, state
        status = "is-active" if self.manager is ServiceManager.SYSTEMD else "status"
        try:
            result = self.ctx.runner.run(self._argv(status), timeout=timeout, ok_codes=None, quiet=True)
        except ProgramError as exc:
            raise StepError(self.name, f"cannot read the service state: {exc}") from None
        if self.manager is ServiceManager.SYSTEMD:
            state = result.stdout.strip() or f"exit status {result.returncode}"
            return state == "active", state in SYSTEMD_STOPPED, state
        said = f"status exited {result.returncode}"
        return result.returncode == 0, result.returncode in LSB_STOPPED, said

    def check(self) -> Probe:
        self._read_back.forget()
        return self._probe(self._state(self.timeout))

    def _probe(self, state: tuple[bool, bool, str]) -> Probe:
        running, _, said = state
        return Probe(running, f"{self.spec.service} ({self.manager.value}): {said}")

    def release_probe(self) -> Probe:
        """Up unless the manager says stopped: a service still starting or stopping
        (``activating``, ``deactivating``) or of unknown status is stopped too."""
        self._read_back.forget()
        return self._release_probe(self._state(self.timeout))

    def _release_probe(self, state: tuple[bool, bool, str]) -> Probe:
        _, stopped, said = state
        return Probe(not stopped, f"{self.spec.service} ({self.manager.value}): {said}")

    def verify(self) -> None:
        """The apply's last read, taken after ``start``, when fresh; else a read now."""
        state = self._read_back.take()
        self._verified(self._probe(state) if state is not None else self.check())

    def verify_undone(self) -> None:
        """The undo's last read, taken after ``stop``, when fresh; else a read now."""
        state = self._read_back.take()
        self._verified_undone(self._release_probe(state) if state is not None else self.release_probe())

    def _hint(self) -> str:
        if self.manager is ServiceManager.SYSTEMD:
            return f"see systemctl status {self.spec.service} and journalctl -u {self.spec.service}"
        return f"see service {self.spec.service} status and the service's log"

    def _command(self, action: str, deadline: float) -> None:
        """Start or stop the service and wait for the manager's job, until ``deadline``; a job whose end the
        bus did not bring is followed by the unit's state (the caller's wait)."""
        unit = self.unit
        left = max(deadline - self.ctx.monotonic(), 0.0)
        method = JOB_METHODS[action]

        def job(bus: SystemdBus) -> str:
            self.ctx.log.info("systemd: %s %s", method, unit)
            return bus.run_job(method, unit, left)

        try:
            result = self._over_bus(left, job)
        except TimeoutError:
            raise StepError(self.name, f"systemd's {action} job for {unit} did not finish within {self.timeout:g} s", hint=self._hint()) from None
        except JobLost as exc:
            self.ctx.log.warning("%s: %s; reading the unit's state instead", self.name, exc)
            return
        except BusError as exc:
            raise StepError(self.name, f"{action} failed: systemd: {exc}", hint=self._hint()) from None
        if result is None:
            self.run_program(self._argv(action), failure=f"{action} failed", hint=self._hint())
        elif result != "done":
            raise StepError(self.name, f"{action} failed: systemd's {action} job for {unit} ended '{result}'", hint=self._hint())

    def _run_and_wait(self, action: str, done: Callable[[bool, bool], bool], goal: str) -> None:
        deadline = self.ctx.monotonic() + self.timeout
        self._command(action, deadline)
        delay = _POLL_START
        self._read_back.forget()
        while True:
            running, stopped, said = self._state(deadline - self.ctx.monotonic())
            if done(running, stopped):
                self._read_back.keep((running, stopped, said))
                return
            if action == "start" and self.manager is ServiceManager.SYSTEMD and said == "failed":
                raise StepError(self.name, f"{self.spec.service} failed while starting", hint=self._hint())
            left = deadline - self.ctx.monotonic()
            if left <= 0:
                raise StepError(
                    self.name,
                    f"{self.spec.service} not {goal} within {self.timeout:g} s (last: {said})",
                    hint=self._hint(),
                )
            self.ctx.sleep(min(delay, left))
            delay = min(delay * 2, _POLL_MAX)

    def apply(self) -> None:
        self._run_and_wait("start", lambda running, stopped: running, "running")

    def undo(self) -> None:
        self._run_and_wait("stop", lambda running, stopped: stopped, "stopped")
