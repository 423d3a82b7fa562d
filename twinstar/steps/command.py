"""The ``command`` step: operator-provided argv for start, stop and check.

Without a ``check`` command the step cannot read its state back, so it
keeps its own record: a marker file in ``state_dir`` written after a
successful start and removed after a successful stop. The marker is created
like the other state files (never through a symlink, mode 0600); a marker
that is a symlink or not a regular file is refused.
"""

from __future__ import annotations

import os

from twinstar.config import CommandSpec
from twinstar.errors import ProgramError, StateError, StepError
from twinstar.state import create_marker, marker_exists
from twinstar.steps.base import Probe, Step, StepContext


class CommandStep(Step):
    kind = "command"

    def __init__(self, spec: CommandSpec, ctx: StepContext) -> None:
        super().__init__(spec.name, spec.timeout, ctx)
        self.spec = spec

    @property
    def _marker(self) -> str:
        return os.path.join(self.ctx.config.state_dir, f"command-{self.spec.command}.up")

    def programs(self) -> tuple[str, ...]:
        argvs = [self.spec.start, self.spec.stop] + ([self.spec.check] if self.spec.check else [])
        return tuple(a[0] for a in argvs)

    def check(self) -> Probe:
        if self.spec.check is None:
            try:
                up = marker_exists(self._marker)
            except StateError as exc:
                raise StepError(self.name, str(exc)) from None
            return Probe(up, "started by twinstar" if up else "not started by twinstar")
        try:
            result = self.ctx.runner.run(self.spec.check, timeout=self.timeout, ok_codes=None, quiet=True)
        except ProgramError as exc:
            return Probe(False, str(exc))
        if result.returncode == 0:
            return Probe(True, "check exited 0")
        return Probe(False, f"check exited {result.returncode}")

    def apply(self) -> None:
        self.run_program(self.spec.start, failure="start failed")
        if self.spec.check is None:
            try:
                create_marker(self._marker, f"{os.getpid()}\n".encode())
            except StateError as exc:
                # Unrecorded, the start could never be undone: take it back now.
                try:
                    self.run_program(self.spec.stop, failure="stop failed")
                except StepError as stop_exc:
                    raise StepError(self.name, f"started, but {exc}; and then {stop_exc}") from None
                raise StepError(self.name, f"started, but {exc}; stopped it again") from None

    def undo(self) -> None:
        self.run_program(self.spec.stop, failure="stop failed")
        if self.spec.check is None:
            try:
                os.unlink(self._marker)
            except FileNotFoundError:
                pass
