"""The telephony rig of the tests: DAHDI's sysfs driven like the kernel, a ``dahdi_cfg`` stand-in.

Stand-ins: the xpp and dahdi kernel drivers cannot load on a build machine,
so the fake sysfs (:class:`twinstar.standins.fakesysfs.FakeSysfs`) holds the
tree and :meth:`~twinstar.standins.fakesysfs.FakeSysfs.drive` does what the
drivers do on a write. The kernel acts before the write returns; here a step
that waits for it sleeps through ``StepContext.sleep``, which this engine
points at ``drive``. ``dahdi_cfg`` is a shell script that records its argv
and the units' registration, then leaves in the tree what dahdi_cfg would
(``python -m twinstar.standins.fakesysfs dahdi-cfg``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from tests.conftest import REPO
from tests.support.node import Node
from twinstar import config
from twinstar.engine.proc import ProgramRunner
from twinstar.engine.runner import Engine
from twinstar.engine.state import StateStore
from twinstar.steps.base import StepContext
from twinstar.steps.registry import build_steps


def dahdi_cfg(node: Node, *, exit_status: int = 0) -> Path:
    """The ``dahdi_cfg`` stand-in; it appends its argv, then each unit's registration (``"111"``), to ``node.calls``."""
    return node.write_stub(
        "dahdi_cfg",
        f"cat {node.sysfs.bus_dir}/xbus-*/dahdi_registration | tr -d '\\n' >> '{node.calls}'; echo >> '{node.calls}'\n"
        f"[ {exit_status} = 0 ] || exit {exit_status}\n"
        f"PYTHONPATH='{REPO}' exec '{sys.executable}' -m twinstar.standins.fakesysfs dahdi-cfg '{node.sysfs.root}'",
    )


class DriverClock:
    """The steps' clock: a sleep runs the fake drivers (and ``then``, when given) and moves time on by the sleep."""

    def __init__(self, node: Node, then: Callable[[], object] | None = None) -> None:
        self.node = node
        self.then = then
        self.now = 0.0
        self.sleeps = 0

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.sleeps += 1
        self.node.sysfs.drive()
        if self.then is not None:
            self.then()

    def monotonic(self) -> float:
        return self.now


def driven_engine(node: Node, *, runner: ProgramRunner | None = None, clock: DriverClock | None = None) -> Engine:
    """The real engine and steps of ``node``'s configuration; a step waiting for the driver runs the fake's ``drive``."""
    cfg = config.load(str(node.config_path))
    runner = runner or ProgramRunner(programs=cfg.program_map)
    clock = clock or DriverClock(node)
    ctx = StepContext(config=cfg, runner=runner, sleep=clock.sleep, monotonic=clock.monotonic)
    return Engine(config=cfg, steps=build_steps(cfg, ctx), store=StateStore(cfg.state_dir), runner=runner)
