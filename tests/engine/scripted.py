"""Fake steps that answer from scripts, and the real engine around them (for tests/engine).

The steps are the only stand-ins (they touch nothing): each answers its calls
from its own script of expected calls, and every call is logged in one list in
the order the calls were made (steps may run in threads: the log is locked).
Where a test needs steps to run concurrently, they meet at a barrier: run one
after the other, the first would wait there alone and the barrier would break
(the test fails). The engine, its journal and ``state.json`` (a real
:class:`StateStore` in ``tmp_path``) are the production code. No program runs.
"""

from __future__ import annotations

import dataclasses
import signal
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from tests.support.config import write_config
from twinstar import config as config_mod
from twinstar.engine.proc import ProgramRunner
from twinstar.engine.runner import Engine
from twinstar.engine.state import StateStore
from twinstar.errors import StepError, TwinstarError
from twinstar.steps.base import Probe, Step, StepContext

#: Long enough never to break under load when the steps do run concurrently.
MEET_TIMEOUT = 60.0


def short(name: str) -> str:
    """A command step's name without its ``command:`` prefix."""
    return name.removeprefix("command:")


@dataclass(frozen=True)
class Call:
    """One expected call: ``phase``; a probe answers ``up``; ``fails`` is raised.

    Before it answers: ``then`` runs (a wait, a note), ``meet`` waits at the
    barrier of :meth:`Book.expect`, ``sigterm`` sends SIGTERM to this process's
    main thread (as a unit timeout sends it, when the kernel hands it to that thread).
    """

    phase: str
    up: bool = False
    fails: TwinstarError | None = None
    then: Callable[[], object] | None = None
    meet: bool = False
    sigterm: bool = False


class Answer(Protocol):
    @property
    def up(self) -> bool: ...


class Answers(Protocol):
    def take(self, step: str, phase: str) -> Answer: ...


class Book:
    """Each step's script, the log of all calls in order, and the problems seen (a thread cannot fail a test).

    A call is logged as ``step.phase`` when it is made and ``step.phase ended``
    when it is about to answer.
    """

    def __init__(self) -> None:
        self.scripts: dict[str, deque[Call]] = {}
        self.log: list[str] = []
        self.problems: list[str] = []
        self.lock = threading.Lock()
        self.barrier: threading.Barrier | None = None

    def expect(self, members_meeting: int = 0, **scripts: Sequence[Call]) -> None:
        """The scripts by step name; ``members_meeting``: how many calls ``meet`` at the barrier."""
        self.scripts = {name: deque(calls) for name, calls in scripts.items()}
        self.log = []
        self.barrier = threading.Barrier(members_meeting, timeout=MEET_TIMEOUT) if members_meeting else None

    def take(self, step: str, phase: str) -> Call:
        with self.lock:
            self.log.append(f"{step}.{phase}")
            script = self.scripts.get(step)
            if not script or script[0].phase != phase:
                self.problems.append(f"unexpected call {step}.{phase}, expected {script[0].phase if script else 'none'}")
                raise StepError(step, f"unexpected call {phase}")
            call = script.popleft()
        if call.then is not None:
            call.then()
        if call.meet:
            assert self.barrier is not None, "a call meets at a barrier, but expect() set none"
            self.barrier.wait()
        if call.sigterm:  # to the main thread, whose wait for the members it interrupts (the kernel may pick any thread)
            main = threading.main_thread().ident
            assert main is not None
            signal.pthread_kill(main, signal.SIGTERM)
        with self.lock:
            self.log.append(f"{step}.{phase} ended")
        if call.fails is not None:
            raise call.fails
        return call

    def awaits(self, event: threading.Event, problem: str) -> Callable[[], None]:
        """A ``then`` that waits for ``event``; should it wait in vain (:data:`MEET_TIMEOUT`), ``problem`` is noted."""

        def wait() -> None:
            if not event.wait(MEET_TIMEOUT):
                self.problems.append(problem)

        return wait

    def calls(self) -> list[str]:
        """The log without the ``ended`` entries: the calls in the order they were made."""
        return [entry for entry in self.log if not entry.endswith(" ended")]

    def assert_done(self) -> None:
        assert self.problems == []
        left = {name: [c.phase for c in script] for name, script in self.scripts.items() if script}
        assert left == {}, f"expected calls never made: {left}"

    def index(self, entry: str) -> int:
        return self.log.index(entry)


class FakeStep(Step):
    """A step whose every call takes its answer from ``answers``, under its short name."""

    kind = "fake"

    def __init__(self, name: str, ctx: StepContext, answers: Answers, *, at_start: bool = False) -> None:
        super().__init__(name, 5.0, ctx)
        self.answers = answers
        self.short = short(name)
        self.check_at_start = at_start

    def check(self) -> Probe:
        return Probe(self.answers.take(self.short, "check").up)

    def apply(self) -> None:
        self.answers.take(self.short, "apply")

    def verify(self) -> None:
        self.answers.take(self.short, "verify")

    def undo(self) -> None:
        self.answers.take(self.short, "undo")

    def verify_undone(self) -> None:
        self.answers.take(self.short, "verify-undone")

    def release_probe(self) -> Probe:
        return Probe(self.answers.take(self.short, "release-probe").up)


def context(tmp_path: Path, *names: str, groups: tuple[tuple[str, ...], ...] = ()) -> StepContext:
    """A loaded config (state in ``tmp_path/state``) with command steps ``names`` and ``groups`` of them."""
    path = write_config(
        tmp_path / "twinstar.yaml",
        state_dir=tmp_path / "state",
        sysfs=tmp_path,
        xpp_order=tmp_path / "xpp_order",
        steps="".join(f"  - command: {{name: {n}, start: [/bin/true], stop: [/bin/true]}}\n" for n in names),
    )
    loaded = config_mod.load(str(path))
    config = dataclasses.replace(loaded, groups=tuple(tuple(f"command:{n}" for n in g) for g in groups))
    return StepContext(config=config, runner=ProgramRunner(programs=config.program_map))


def real_engine(ctx: StepContext, steps: Sequence[Step], tmp_path: Path) -> tuple[Engine, StateStore]:
    """The real engine over ``steps``, its state in ``tmp_path/state``."""
    store = StateStore(str(tmp_path / "state"))
    return Engine(config=ctx.config, steps=list(steps), store=store, runner=ctx.runner), store


@dataclass
class Rig:
    engine: Engine
    store: StateStore
    book: Book

    def journal(self) -> list[dict[str, object]]:
        return list(self.store.read_journal())

    def phases(self) -> list[tuple[object, ...]]:
        """The journal's step lines as (step, phase, result)."""
        return [(short(str(e["step"])), e["phase"], e["result"]) for e in self.journal() if "step" in e]

    def line(self, step: str, phase: str, result: str) -> dict[str, object]:
        (found,) = [e for e in self.journal() if (e.get("step"), e.get("phase"), e.get("result")) == (f"command:{step}", phase, result)]
        return found


def rig(
    tmp_path: Path,
    *names: str,
    at_start: bool = False,
    in_turn: tuple[str, ...] = (),
    groups: tuple[tuple[str, ...], ...] = (),
) -> Rig:
    """Fake command steps ``names`` in order sharing one :class:`Book`; ``groups``: which of them form concurrent groups.

    With ``at_start`` their checks run when the takeover begins, except those ``in_turn``.
    """
    ctx = context(tmp_path, *names, groups=groups)
    book = Book()
    steps = [FakeStep(f"command:{n}", ctx, book, at_start=at_start and n not in in_turn) for n in names]
    return Rig(*real_engine(ctx, steps, tmp_path), book)
