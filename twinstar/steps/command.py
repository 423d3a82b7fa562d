"""The ``command`` step: operator-provided argv for start, stop and check.

Without a ``check`` command the step cannot read its state back, so it
keeps its own record: a marker file in ``state_dir`` written after a
successful start and removed after a successful stop.
"""

from __future__ import annotations

import os

from twinstar.config import CommandSpec
from twinstar.errors import ProgramError
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
            up = os.path.exists(self._marker)
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
            with open(self._marker, "w") as f:
                f.write(f"{os.getpid()}\n")

    def undo(self) -> None:
        self.run_program(self.spec.stop, failure="stop failed")
        if self.spec.check is None:
            try:
                os.unlink(self._marker)
            except FileNotFoundError:
                pass
