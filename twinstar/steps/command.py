"""The ``command`` step: operator-provided argv for start, stop and check.

With a ``check`` command, the step's state is what check says. Without one
the step cannot read its state back, so it keeps its own record in
``state_dir`` (regular files, mode 0600, never followed through a link):

* ``command-NAME.up``: started by twinstar and not stopped since;
* ``command-NAME.changing``: a start or stop began and did not finish
  (its process was killed): the command's service may be up or down.

apply records ``changing``, stops first when an earlier start or stop did
not finish (so start never runs while the service may already be up),
starts, records ``up`` and removes ``changing``. undo records ``changing``,
removes ``up``, stops and removes ``changing`` (when ``changing`` cannot be
written, a full ``state_dir``, it stops and then removes ``up``: an undo
never stops for want of a record). check is up for ``up`` without
``changing``; release_probe is up for either.
"""

from __future__ import annotations

import os

from twinstar.engine.statedir import create_marker, marker_exists
from twinstar.errors import ProgramError, StateError, StepError
from twinstar.steps.base import Probe, Step, StepContext
from twinstar.steps.command_spec import CommandSpec

UP = "up"
CHANGING = "changing"
UNKNOWN = "an earlier start or stop did not finish: state unknown"


class CommandStep(Step):
    kind = "command"
    check_at_start = True

    def __init__(self, spec: CommandSpec, ctx: StepContext) -> None:
        super().__init__(spec.name, spec.timeout, ctx)
        self.spec = spec

    def _marker(self, which: str) -> str:
        return os.path.join(self.ctx.config.state_dir, f"command-{self.spec.command}.{which}")

    def programs(self) -> tuple[str, ...]:
        argvs = [self.spec.start, self.spec.stop] + ([self.spec.check] if self.spec.check else [])
        return tuple(a[0] for a in argvs)

    # -- the record kept without a check command --

    def _has(self, which: str) -> bool:
        try:
            return marker_exists(self._marker(which))
        except StateError as exc:
            raise StepError(self.name, str(exc)) from None

    def _record(self, which: str) -> None:
        """Create the record ``which`` unless it exists (created like every state file: O_EXCL, no link, 0600)."""
        if self._has(which):
            return
        try:
            create_marker(self._marker(which), f"{os.getpid()}\n".encode())
        except StateError as exc:
            raise StepError(self.name, str(exc)) from None

    def _forget(self, which: str) -> None:
        path = self._marker(which)
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise StepError(self.name, f"cannot remove {path}: {exc.strerror}") from None

    # -- the step --

    def _checked(self) -> Probe:
        assert self.spec.check is not None
        try:
            result = self.ctx.runner.run(self.spec.check, timeout=self.timeout, ok_codes=None, quiet=True)
        except ProgramError as exc:
            return Probe(False, str(exc))
        if result.returncode == 0:
            return Probe(True, "check exited 0")
        return Probe(False, f"check exited {result.returncode}")

    def _recorded(self, *, unknown_is_up: bool = False) -> Probe:
        """The record: up for ``up`` alone; detail UNKNOWN (up: ``unknown_is_up``) when a start or stop did not finish."""
        if self._has(CHANGING):
            return Probe(unknown_is_up, UNKNOWN)
        up = self._has(UP)
        return Probe(up, "started by twinstar" if up else "not started by twinstar")

    def check(self) -> Probe:
        if self.spec.check is not None:
            return self._checked()
        return self._recorded()

    def release_probe(self) -> Probe:
        if self.spec.check is not None:
            return self._checked()
        return self._recorded(unknown_is_up=True)

    def apply(self) -> None:
        if self.spec.check is not None:
            self.run_program(self.spec.start, failure="start failed")
            return
        probe = self._recorded()
        if probe.up:
            return
        self._record(CHANGING)
        if probe.detail == UNKNOWN:
            self.ctx.log.warning("%s: %s; stopping before starting", self.name, UNKNOWN)
            self.run_program(self.spec.stop, failure="stop (before starting again) failed")
        self.run_program(self.spec.start, failure="start failed")
        try:
            self._record(UP)
        except StepError as exc:
            # Unrecorded, the start could never be undone: take it back now.
            try:
                self.run_program(self.spec.stop, failure="stop failed")
            except StepError as stop_exc:
                raise StepError(self.name, f"started, but {exc}; and then {stop_exc}") from None
            self._forget(CHANGING)
            raise StepError(self.name, f"started, but {exc}; stopped it again") from None
        self._forget(CHANGING)

    def undo(self) -> None:
        if self.spec.check is not None:
            self.run_program(self.spec.stop, failure="stop failed")
            return
        try:
            self._record(CHANGING)
        except StepError as exc:
            # An undo never stops for want of a record (a full state_dir): stop first,
            # then forget ``up``, so a stop cut short leaves the step counted as up.
            self.ctx.log.warning("%s; stopping without recording it first", exc)
            self.run_program(self.spec.stop, failure="stop failed")
            self._forget(UP)
            return
        self._forget(UP)
        self.run_program(self.spec.stop, failure="stop failed")
        self._forget(CHANGING)
