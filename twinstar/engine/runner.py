"""The takeover/release engine: ordered steps, verification, rollback, journal, lock.

One idea, the transition, and why it is over 400 lines: begin, each step's
phases, the undo of what is up, recovery and the end are one sequence whose
order is the engine's guarantee (journal first, never half-active). The story
is in docs/architecture.md ("The engine").
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import KW_ONLY, dataclass, field, replace

from twinstar.config import Config
from twinstar.engine import log as tlog
from twinstar.engine import ready
from twinstar.engine.lock import FileLock
from twinstar.engine.proc import ProgramRunner
from twinstar.engine.report import Action, Report, StepOutcome, StepResult
from twinstar.engine.startchecks import Answer, StartedChecks
from twinstar.engine.state import NodeState, Role, StateStore
from twinstar.errors import (
    BadInputError,
    ConfigError,
    ExitStatus,
    ProgramError,
    RefusedError,
    StateError,
    TwinstarError,
)
from twinstar.fastpath import safefile
from twinstar.steps.base import Probe, Step, StepContext
from twinstar.steps.registry import build_steps

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import FrameType
    from typing import Any

    from twinstar.engine.records import JournalLine, PhaseLine
    from twinstar.steps.systemd_bus import SystemdBus

logger = logging.getLogger("twinstar.engine")


#: How often (seconds) Python passes its lock between threads while a transition runs; its default is
#: 5 ms. A step's thread whose program has exited or whose read has returned waits that long for the
#: lock when another thread is computing (a check's, a group member's, the journal's), and the steps'
#: threads mostly wait on programs and files: they take turns sooner.
SWITCH_INTERVAL = 0.0005


@contextmanager
def _threads_switch_often() -> Iterator[None]:
    """:data:`SWITCH_INTERVAL` for the duration; the process's own interval again afterwards."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


#: What to do when ``state_dir`` cannot be written.
_FREE_STATE_DIR = "make room in the state directory or make it writable, then run again"


def _not_started(exc: StateError) -> StateError:
    """``exc`` said of a run stopped before any step: nothing was changed (a bad ``state_dir`` or state file stays bad input)."""
    if isinstance(exc, BadInputError):
        return exc
    return StateError(f"nothing was changed: {exc.message}", hint=exc.hint or _FREE_STATE_DIR)


@dataclass
class _Run:
    """One takeover or release under way: its id, start, and whether its journal could be written."""

    id: str
    action: Action
    started_wall: float
    started: float
    recovered: str | None = None
    unrecorded: StateError | None = None  # what stops the run once a journal write failed


def new_run_id() -> str:
    """12 random hex digits naming one takeover or release in the journal (uuid costs an import)."""
    return os.urandom(6).hex()


class Interrupted(TwinstarError):
    """SIGTERM or SIGINT arrived while steps were running."""


class _SignalGate:
    """SIGTERM and SIGINT as :class:`Interrupted`: raised where the main thread is, or, while :meth:`held`,
    noted for :meth:`take`.

    A group's members run in threads while the main thread waits for them.
    Raised inside that wait, the exception would cut it short (Python's
    ``Thread.join`` interrupted by a signal handler's exception can even take
    a running thread for ended), and the rollback would start beside a
    member's apply; held, it is raised once every member has ended and what
    came up is known.
    """

    def __init__(self) -> None:
        self._holding = False
        self._noted: Interrupted | None = None

    def handler(self, signum: int, frame: FrameType | None) -> None:
        exc = Interrupted(f"interrupted by {signal.Signals(signum).name}")
        if not self._holding:
            raise exc
        self._noted = self._noted or exc

    @contextmanager
    def held(self) -> Iterator[None]:
        self._holding = True
        try:
            yield
        finally:
            self._holding = False

    def take(self) -> Interrupted | None:
        """The first signal noted while held (then forgotten); None when none came."""
        noted, self._noted = self._noted, None
        return noted


@contextmanager
def _signals_raise() -> Iterator[_SignalGate]:
    """Turn SIGTERM/SIGINT into :class:`Interrupted` so a stopped takeover rolls back (:class:`_SignalGate`)."""
    gate = _SignalGate()
    try:
        old = {s: signal.signal(s, gate.handler) for s in (signal.SIGTERM, signal.SIGINT)}
    except ValueError:  # not in the main thread: leave signals alone
        yield gate
        return
    try:
        yield gate
    finally:
        for s, h in old.items():
            signal.signal(s, h)


@dataclass
class _Member:
    """One step of a concurrent group as its thread left it: up, or failed (and maybe partly up)."""

    step: Step
    outcome: StepOutcome | None = None
    error: TwinstarError | None = None
    partial: bool = False


def stages(steps: Sequence[Step], groups: Sequence[Sequence[str]]) -> list[tuple[Step, ...]]:
    """``steps`` in order, those of one concurrent group (``Config.groups``, by name) as one stage."""
    group_of = {name: i for i, group in enumerate(groups) for name in group}
    out: list[tuple[Step, ...]] = []
    last: int | None = None
    for step in steps:
        group = group_of.get(step.name)
        if group is not None and group == last:
            out[-1] += (step,)
        else:
            out.append((step,))
        last = group
    return out


def group_label(members: Sequence[Step]) -> str:
    """How reports and the journal name a concurrent group: its steps' names joined by ``+``."""
    return "+".join(step.name for step in members)


@dataclass
class Engine:
    """Runs takeover and release for one configuration.

    ``steps``, ``store`` and the ``runner`` the steps share are injected;
    :func:`engine_for` builds the real ones.
    """

    config: Config
    steps: Sequence[Step]
    store: StateStore
    runner: ProgramRunner
    _: KW_ONLY
    clock: Callable[[], float] = time.time
    monotonic: Callable[[], float] = time.monotonic
    log: logging.Logger = field(default_factory=lambda: logger)
    #: Called with a successful takeover's report and run id once the lock is released (:mod:`twinstar.engine.ready`).
    on_ready: Callable[[Report, str], object] | None = None
    _last_run: str = field(default="", init=False, repr=False)
    _journal_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    # -- public --------------------------------------------------------------------------

    def preflight(self, also: Sequence[tuple[str, str]] = ()) -> None:
        """Every program every step needs, and each ``(who, program)`` of ``also``,
        exists and, as root, only root can replace it.

        Else ConfigError, before anything runs (:func:`twinstar.fastpath.safefile.replaceable`).
        """
        as_root = os.geteuid() == 0
        needs = [(f"step {step.name}", name) for step in self.steps for name in step.programs()]
        for who, name in [*needs, *also]:
            try:
                path = self.runner.resolve(name)
            except ProgramError as exc:
                raise ConfigError(f"{who}: {exc}", path=self.config.source) from None
            why = safefile.replaceable(path) if as_root else None
            if why is not None:
                raise ConfigError(
                    f"{who}: refusing to run {path} as root: {why}",
                    path=self.config.source,
                    hint="make the program and its directories owned by root and not writable by group or others",
                )

    def check_inputs(self) -> None:
        """Every step's own input files are valid (``xpp_order``): else BadInputError, before anything runs.

        Takeover only: a release must still take down what it can.
        """
        for step in self.steps:
            step.check_inputs()

    def takeover(self, *, dry_run: bool = False) -> Report:
        self.preflight()
        self.check_inputs()
        if dry_run:
            return self._dry_run(Action.TAKEOVER)
        with self._locked(), _threads_switch_often():
            report = self._takeover()
        if report.ok and self.on_ready is not None:
            self.on_ready(report, self._last_run)
        return report

    def release(self, *, dry_run: bool = False) -> Report:
        self.preflight()
        if dry_run:
            return self._dry_run(Action.RELEASE)
        with self._locked(), _threads_switch_often():
            return self._release()

    # -- internals -----------------------------------------------------------------------

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with ExitStack() as held:
            try:
                held.enter_context(FileLock(self.store.lock_path, timeout=self.config.lock_timeout))
            except StateError as exc:
                raise _not_started(exc) from None
            yield

    def _recover(self, action: Action) -> str | None:
        """Report a transition that a dead process left half-done (we hold the lock)."""
        prev = self.store.read()
        if not prev.in_transition:
            return None
        was = Action.TAKEOVER if prev.role == Role.STARTING else Action.RELEASE
        if was == action:
            how = "completing it"
        elif action == Action.RELEASE:
            how = "rolling it back"
        else:
            how = "bringing every step up again"
        message = f"previous {was.value} (pid {prev.pid}) was interrupted; {how} from the real state"
        self.log.warning(message)
        self.store.journal({"ts": self.clock(), "event": "recovery", "action": action.value, "message": message})
        return message

    def _begin(self, action: Action, role: Role) -> _Run:
        """Start a transition (we hold the lock).

        Nothing has changed yet: a journal or ``state.json`` that cannot be
        written (a full or read-only ``state_dir``) raises StateError here, and
        the run stops before any step. From here on, ``state.json`` says a
        transition is in progress, so a run that cannot record its end is
        recovered by the next one from the real state.
        """
        run = _Run(new_run_id(), action, self.clock(), self.monotonic())
        self._last_run = run.id
        try:
            run.recovered = self._recover(action)
            # The journal first: a journal that cannot be written stops the run before state.json says "starting"/"stopping".
            self.store.journal({"ts": run.started_wall, "run": run.id, "event": "begin", "action": action.value, "pid": os.getpid()})
            self.store.write(NodeState.now(role, since=self.clock(), running=True, node=self.config.node))
        except StateError as exc:
            raise _not_started(exc) from None
        return run

    def _note(self, run: _Run, line: JournalLine) -> None:
        """Journal one event once the run has begun: a failure is logged and kept, never raised.

        A takeover stops at its next step when the journal fails (and rolls
        back); an undo always goes on.
        """
        try:
            with self._journal_lock:  # the members of a concurrent group journal from their threads
                self.store.journal(line)
        except StateError as exc:
            if run.unrecorded is None:
                run.unrecorded = StateError(f"the journal cannot be written: {exc}", hint=_FREE_STATE_DIR)
                then = "what is up is rolled back" if run.action == Action.TAKEOVER else "the release goes on"
                self.log.error(f"{run.action.value}: {exc}; {then}")
            else:
                self.log.debug(f"{run.action.value}: {exc}")

    def _require_recorded(self, run: _Run) -> None:
        """Stop a takeover whose journal could not be written: what is not recorded is rolled back."""
        if run.unrecorded is not None:
            raise run.unrecorded

    def _record_end(self, run: _Run, report: Report) -> StateError | None:
        """Write the outcome to ``state.json`` and the journal; the error when ``state.json`` could not be written."""
        transition = report.transition(started=run.started_wall, ended=self.clock())
        try:
            self.store.write(
                NodeState.now(report.role, since=self.clock(), last_transition=transition, node=self.config.node)
            )
        except StateError as exc:
            return exc
        self._note(run, {"ts": self.clock(), "event": "end", **transition})
        return None

    def _finish(self, run: _Run, report: Report) -> Report:
        """Record the outcome (best effort); a journal or role that could not be written makes it a failure."""
        if run.unrecorded is not None and report.ok:
            report = replace(report, exit_status=ExitStatus.FAILED, error=run.unrecorded.message)
        failure = self._record_end(run, report)
        if failure is None:
            return report
        note = (
            f"role {report.role.value} not recorded ({failure}); "
            f"{self.store.state_path} still says {run.action.value} in progress, and the next takeover "
            "or release recovers from the real state"
        )
        self.log.error(f"{run.action.value}: {note}")
        status = ExitStatus.FAILED if report.ok else report.exit_status
        return replace(report, exit_status=status, error=f"{report.error}; {note}" if report.error else note)

    def _run_phase(self, run: _Run, step: Step, phase: str, fn: Callable[[], Any]) -> tuple[Any, float]:
        """Run one phase of one step, journal and log it; re-raise failures."""
        action = run.action
        start_wall, start = self.clock(), self.monotonic()

        def line(result: str, error: str | None = None) -> PhaseLine:
            entry: PhaseLine = {"run": run.id, "action": action.value, "step": step.name, "phase": phase, "start": start_wall, "result": result}
            if result != "started":
                entry["end"] = self.clock()
            if error is not None:
                entry["error"] = error
            return entry

        if phase in ("apply", "undo"):
            self._note(run, line("started"))
        if phase == "apply":
            self._require_recorded(run)
        try:
            value = fn()
        except TwinstarError as exc:
            duration = self.monotonic() - start
            result = StepResult.REFUSED if isinstance(exc, RefusedError) else StepResult.FAILED
            self._note(run, line(result.value, str(exc)))
            tlog.step_event(self.log, action=action.value, step=step.name, phase=phase, result=result.value, duration=duration, error=str(exc))
            raise
        except Exception as exc:  # a bug in a step must still roll back, never leave half-done
            duration = self.monotonic() - start
            error = f"unexpected {type(exc).__name__}: {exc}"
            self._note(run, line("failed", error))
            tlog.step_event(self.log, action=action.value, step=step.name, phase=phase, result="failed", duration=duration, error=error)
            raise TwinstarError(f"step {step.name}: {error}") from exc
        duration = self.monotonic() - start
        result_word = ("up" if value.up else "down") if phase == "check" else "ok"
        self._note(run, line(result_word))
        tlog.step_event(self.log, action=action.value, step=step.name, phase=phase, result=result_word, duration=duration)
        return value, duration

    def _check(self, run: _Run, step: Step, checks: StartedChecks) -> Probe:
        """The step's check: the answer of the one started with the takeover (journaled and logged as
        if run now, with its own times), else run now."""
        answer = checks.collect(step)
        if answer is None:
            probe: Probe = self._run_phase(run, step, "check", step.check)[0]
            return probe
        return self._answered(run, step, answer)

    def _answered(self, run: _Run, step: Step, answer: Answer) -> Probe:
        result = "up" if answer.probe.up else "down"
        line: PhaseLine = {
            "run": run.id, "action": run.action.value, "step": step.name, "phase": "check",
            "start": answer.start_wall, "result": result, "end": answer.end_wall,
        }
        self._note(run, line)
        tlog.step_event(self.log, action=run.action.value, step=step.name, phase="check", result=result, duration=answer.end - answer.start)
        return answer.probe

    def _bring_up(self, run: _Run, member: _Member, group: str, checks: StartedChecks) -> None:
        """One member of a concurrent group, in its own thread: check, then apply and verify as a lone step would."""
        step, t0 = member.step, self.monotonic()
        try:
            probe = self._check(run, step, checks)
            if probe.up:
                if step.refreshes:
                    self._run_phase(run, step, "refresh", step.refresh)
                member.outcome = StepOutcome(step.name, "check", StepResult.ALREADY, self.monotonic() - t0, probe.detail, group=group)
                return
            member.partial = True
            self._run_phase(run, step, "apply", step.apply)
            self._run_phase(run, step, "verify", step.verify)
            member.partial = False
            member.outcome = StepOutcome(step.name, "apply", StepResult.DONE, self.monotonic() - t0, group=group)
        except TwinstarError as exc:
            member.error = exc
            result = StepResult.REFUSED if isinstance(exc, RefusedError) else StepResult.FAILED
            member.outcome = StepOutcome(step.name, "apply", result, self.monotonic() - t0, error=str(exc), group=group)

    def _run_group(self, run: _Run, steps: Sequence[Step], checks: StartedChecks) -> list[_Member]:
        """Bring the steps of one concurrent group up, each in its thread; returns when every one has ended.

        The caller holds signals meanwhile (:meth:`_SignalGate.held`) and
        raises one that came once it has taken note of what came up.
        """
        group = group_label(steps)
        members = [_Member(step) for step in steps]
        self._note(run, {"ts": self.clock(), "run": run.id, "event": "group", "action": run.action.value, "group": group, "result": "started"})
        threads = [threading.Thread(target=self._bring_up, args=(run, m, group, checks), name=f"twinstar {m.step.name}", daemon=True) for m in members]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        failed = [m.step.name for m in members if m.error is not None]
        result = "failed: " + ", ".join(failed) if failed else "up"
        self._note(run, {"ts": self.clock(), "run": run.id, "event": "group", "action": run.action.value, "group": group, "result": result})
        return members

    def _takeover(self) -> Report:
        run = self._begin(Action.TAKEOVER, Role.STARTING)
        outcomes: list[StepOutcome] = []
        up: list[Step] = []
        partial: list[Step] = []
        current, group = "state_dir", None  # the step being brought up (and its group), named by a failure
        t0 = run.started
        for step in self.steps:  # the slow safety probes start now and are collected by their step's apply
            step.start_early()
        checks = StartedChecks(self.steps, self.clock, self.monotonic)  # collected in each step's turn
        try:
            with _signals_raise() as signals:
                for stage in stages(self.steps, self.config.groups):
                    self._require_recorded(run)
                    t0 = self.monotonic()
                    if len(stage) > 1:
                        current = group = group_label(stage)
                        with signals.held():  # until what came up is noted here, for the rollback
                            members = self._run_group(run, stage, checks)
                            up += [m.step for m in members if m.error is None]
                            partial += [m.step for m in members if m.error is not None and m.partial]
                            outcomes += [m.outcome for m in members if m.error is None and m.outcome is not None]
                        interrupted = signals.take()
                        failures = [m for m in members if m.error is not None]
                        if failures:
                            # Every failed member is reported; the first one's error is the takeover's.
                            outcomes += [m.outcome for m in failures[1:] if m.outcome is not None]
                            current = failures[0].step.name
                            raise failures[0].error or TwinstarError(f"step {current} failed")
                        if interrupted is not None:
                            current = group
                            raise interrupted
                        continue
                    (step,) = stage
                    current, group = step.name, None
                    probe = self._check(run, step, checks)
                    if probe.up:
                        if step.refreshes:  # up, but maybe not announced: a takeover killed after apply
                            self._run_phase(run, step, "refresh", step.refresh)
                        outcomes.append(StepOutcome(step.name, "check", StepResult.ALREADY, self.monotonic() - t0, probe.detail))
                        up.append(step)
                        continue
                    partial = [step]  # from here until verified, any part of it may be up
                    self._run_phase(run, step, "apply", step.apply)
                    self._run_phase(run, step, "verify", step.verify)
                    partial = []
                    outcomes.append(StepOutcome(step.name, "apply", StepResult.DONE, self.monotonic() - t0))
                    up.append(step)
                self._require_recorded(run)
                current, group = "state_dir", None
                t0 = self.monotonic()
                report = Report(
                    Action.TAKEOVER, ExitStatus.OK, Role.ACTIVE, tuple(outcomes), (), self.monotonic() - run.started, recovered=run.recovered
                )
                # Active only once recorded: a node that cannot say it is active is rolled back.
                failure = self._record_end(run, report)
                if failure is None:
                    return report
                raise StateError(f"cannot record role active: {failure}", hint=_FREE_STATE_DIR)
        except TwinstarError as exc:
            refused = isinstance(exc, RefusedError)
            outcomes.append(
                StepOutcome(current, "apply", StepResult.REFUSED if refused else StepResult.FAILED, self.monotonic() - t0, error=str(exc), group=group)
            )
            # The failed step first, where any part of it came up (a verify that failed, an
            # apply cut short): it is taken down like in a release, then the steps before it
            # (a group's members that came up among them, in reverse of their listing).
            rollback = self._undo_all(run, partial, probe=True, quiet_when_down=True)
            rollback += self._undo_all(run, list(reversed(up)))
            clean = all(o.result != StepResult.FAILED for o in rollback)
            role = Role.STANDBY if refused and clean else Role.FAILED
            report = Report(
                Action.TAKEOVER,
                ExitStatus.REFUSED if refused else ExitStatus.FAILED,
                role,
                tuple(outcomes),
                tuple(rollback),
                self.monotonic() - run.started,
                error=str(exc),
                recovered=run.recovered,
            )
            return self._finish(run, report)
        finally:
            checks.wait_all()
            for step in self.steps:
                step.forget_early()

    def _undo_all(self, run: _Run, steps: Sequence[Step], *, probe: bool = False, quiet_when_down: bool = False) -> list[StepOutcome]:
        """Undo each step (already in the order wanted), carrying on past failures.

        A release, or ``probe``, first asks each step's ``release_probe`` and leaves
        a step that is wholly down (reported ``already``, or not at all when
        ``quiet_when_down``).
        """
        out: list[StepOutcome] = []
        for step in steps:
            t0 = self.monotonic()
            try:
                if probe or run.action == Action.RELEASE:
                    found, _ = self._run_phase(run, step, "check", step.release_probe)
                    if not found.up:
                        if not quiet_when_down:
                            out.append(StepOutcome(step.name, "check", StepResult.ALREADY, self.monotonic() - t0, found.detail))
                        continue
                self._run_phase(run, step, "undo", step.undo)
                self._run_phase(run, step, "verify-undone", step.verify_undone)
                out.append(StepOutcome(step.name, "undo", StepResult.UNDONE, self.monotonic() - t0))
            except TwinstarError as exc:
                out.append(StepOutcome(step.name, "undo", StepResult.FAILED, self.monotonic() - t0, error=str(exc)))
        return out

    def _release(self) -> Report:
        run = self._begin(Action.RELEASE, Role.STOPPING)
        # Release must finish even when asked to stop: the signals stay as they were
        # only while undoing; an interrupted release is recovered by the next one.
        outcomes = self._undo_all(run, list(reversed(self.steps)))
        failures = [o for o in outcomes if o.result == StepResult.FAILED]
        report = Report(
            Action.RELEASE,
            ExitStatus.FAILED if failures else ExitStatus.OK,
            Role.FAILED if failures else Role.STANDBY,
            tuple(outcomes),
            (),
            self.monotonic() - run.started,
            error="; ".join(o.error or "" for o in failures) or None,
            recovered=run.recovered,
        )
        return self._finish(run, report)

    def _dry_run(self, action: Action) -> Report:
        """Check every step and say what would be done; changes nothing."""
        started = self.monotonic()
        order = self.steps if action == Action.TAKEOVER else list(reversed(self.steps))
        group_of = {step.name: group_label(stage) for stage in stages(self.steps, self.config.groups) if len(stage) > 1 for step in stage}
        outcomes: list[StepOutcome] = []
        for step in order:
            t0 = self.monotonic()
            try:
                probe = step.check() if action == Action.TAKEOVER else step.release_probe()
            except TwinstarError as exc:
                outcomes.append(StepOutcome(step.name, "check", StepResult.FAILED, self.monotonic() - t0, error=str(exc), group=group_of.get(step.name)))
                continue
            if action == Action.TAKEOVER:
                result = StepResult.ALREADY if probe.up else StepResult.WOULD_APPLY
            else:
                result = StepResult.WOULD_UNDO if probe.up else StepResult.ALREADY
            outcomes.append(StepOutcome(step.name, "check", result, self.monotonic() - t0, probe.detail, group=group_of.get(step.name)))
        failed = any(o.result == StepResult.FAILED for o in outcomes)
        try:
            role = self.store.read().role
        except TwinstarError:
            role = Role.STANDBY
        return Report(
            action,
            ExitStatus.FAILED if failed else ExitStatus.OK,
            role,
            tuple(outcomes),
            duration=self.monotonic() - started,
            dry_run=True,
        )


def _systemd_bus(timeout: float) -> SystemdBus:
    """A connection to systemd's manager (imported with the service step that uses it, not with the engine)."""
    from twinstar.steps.systemd_bus import SystemdBus

    return SystemdBus.connect(timeout)


def engine_for(config: Config, *, runner: ProgramRunner | None = None) -> Engine:
    """The engine with real steps, runner and state store for ``config``."""
    runner = runner or ProgramRunner(programs=config.program_map)
    ctx = StepContext(config=config, runner=runner, systemd_bus=_systemd_bus)
    store = StateStore(config.state_dir, journal_max_bytes=config.journal.max_mib << 20, journal_keep=config.journal.keep)
    return Engine(
        config=config, steps=build_steps(config, ctx), store=store, runner=runner, on_ready=ready.after_takeover(config),
    )
