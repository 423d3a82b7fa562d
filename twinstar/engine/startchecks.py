"""Every step's check started when a takeover begins, each collected in its step's turn.

A step whose check reads only its own resource (``Step.check_at_start``)
has it run in a thread of its own from the takeover's start, concurrently
with the other checks and with the applies of the steps before it. In the
step's turn the engine takes the answer (and journals it with its own start
and end) instead of checking then. A check that raised is run again in its
turn, as without this: its error may only mean that a step before it is not
up yet, and only a check run in turn may fail a takeover. A check's thread,
and every program it starts, runs at niceness CHECK_NICE: on a busy machine
the applies, which are the takeover's critical path, go first. Checks never
change anything, so a takeover that ends early just waits for the ones still
running (:meth:`StartedChecks.wait_all`): none outlives its takeover.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from twinstar.engine.proc import BACKGROUND_NICE, set_niceness
from twinstar.steps.base import Probe, Step

#: The niceness of a check's thread and of the programs it runs: they get the CPU the applies leave.
CHECK_NICE = BACKGROUND_NICE


@dataclass(frozen=True)
class Answer:
    """A check that ended with an answer: the probe, and when it ran (wall clock and monotonic)."""

    probe: Probe
    start_wall: float
    start: float
    end_wall: float
    end: float


class _Check:
    def __init__(self, step: Step, clock: Callable[[], float], monotonic: Callable[[], float]) -> None:
        self.step = step
        self._clock = clock
        self._monotonic = monotonic
        self.answer: Answer | None = None
        self.thread = threading.Thread(target=self._run, name=f"twinstar check {step.name}", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        set_niceness(CHECK_NICE)
        start_wall, start = self._clock(), self._monotonic()
        try:
            probe = self.step.check()
        except Exception:  # noqa: BLE001 - the check runs again in its turn and fails there, if it still does
            return
        self.answer = Answer(probe, start_wall, start, self._clock(), self._monotonic())


class StartedChecks:
    """The checks of ``steps`` that may run at the start, each in its thread from construction.

    Not the first step's: its turn is now, and a thread would only add its
    start (and its share of Python's lock) to the first apply's way.
    """

    def __init__(self, steps: Sequence[Step], clock: Callable[[], float], monotonic: Callable[[], float]) -> None:
        self._checks = {step.name: _Check(step, clock, monotonic) for step in steps[1:] if step.check_at_start}

    def collect(self, step: Step) -> Answer | None:
        """``step``'s answer once its check has ended; None when it has none (not started, or it raised)."""
        check = self._checks.pop(step.name, None)
        if check is None:
            return None
        check.thread.join()
        return check.answer

    def wait_all(self) -> None:
        """Until every check not collected has ended."""
        for check in self._checks.values():
            check.thread.join()
        self._checks.clear()
