"""What every takeover step is: check, apply, verify, undo.

A step is a small object built from its configuration spec and a
:class:`StepContext` that carries the side-effect edges (the program runner,
paths, a clock). The engine drives it:

* ``check()``   reads the real state: is this step's resource up right now?
  With ``check_at_start`` it runs when the takeover begins, beside the others.
* ``apply()``   brings it up; a step cleans up its own partial work when apply fails.
* ``verify()``  reads the state back after apply and raises when it is not up.
* ``undo()``    takes it down again (release, rollback); ``verify_undone()`` reads it back.
* ``refresh()`` when a takeover's check finds the step up already: what apply
  tells others besides bringing it up (the ip step's gratuitous ARP) is done
  again, since a takeover killed between the two leaves it up but unannounced.
* ``start_early()`` is run for every step when a takeover begins: a step whose
  apply starts with a slow read-only safety probe (the ip step's
  duplicate-address detection, the drbd step's peer role) starts it there in
  a thread (:class:`EarlyProbe`) and its apply collects it; ``forget_early()``
  drops what a takeover left uncollected.
* ``start_ahead()`` starts such a probe before there is a takeover: the
  daemon runs it when a listed unit arrives while the node is going to take
  over, and the next takeover's step adopts it (:data:`AHEAD`) in
  ``start_early()`` instead of starting its own.
* ``release_probe()`` says whether any part is up, however little: release
  skips the step only when nothing is, so it must see every partial state a
  killed takeover or release, or an operator, can leave (DRBD Primary but not
  mounted, a service still starting, a start whose outcome is unknown).

Steps raise :class:`~twinstar.errors.StepError` for failures and
:class:`~twinstar.errors.RefusedError` when a safety guard says no.
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import KW_ONLY, dataclass, field
from typing import Any, Generic, TypeVar

from twinstar.engine.proc import ProgramRunner
from twinstar.errors import ProgramError, StepError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from twinstar.config import Config
    from twinstar.steps.systemd_bus import SystemdBus

T = TypeVar("T")
In = TypeVar("In")


@dataclass(frozen=True)
class Probe:
    """The result of a step's check: is it up, and what was seen."""

    up: bool
    detail: str = ""


@dataclass
class StepContext:
    """The edges a step may touch, injected so tests can replace exactly one."""

    config: Config
    runner: ProgramRunner
    _: KW_ONLY
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("twinstar.steps"))
    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic
    #: Connects to systemd's manager on the system bus within the seconds given (the service step); None: systemctl only.
    systemd_bus: Callable[[float], SystemdBus] | None = None


class RecentReading(Generic[T]):
    """What a step's check read, kept for the apply or undo the engine runs right after it.

    The engine runs check, then apply (takeover) or undo (release), at once;
    reading the state again in between only costs time. A reading is handed
    out once, and only while it is at most ``fresh`` seconds old. Verify
    reads the state back itself, except where the apply's or undo's own wait
    ended on a read taken after its action (the ``service`` step).
    """

    def __init__(self, monotonic: Callable[[], float], fresh: float = 1.0) -> None:
        self._monotonic = monotonic
        self._fresh = fresh
        self._kept: tuple[T, float] | None = None

    def keep(self, value: T) -> T:
        self._kept = (value, self._monotonic())
        return value

    def take(self) -> T | None:
        kept, self._kept = self._kept, None
        if kept is not None and 0 <= self._monotonic() - kept[1] <= self._fresh:
            return kept[0]
        return None

    def forget(self) -> None:
        self._kept = None


class _Flight(Generic[T]):
    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: tuple[T] | None = None
        self.error: BaseException | None = None


class SharedRead(Generic[T]):
    """Reads of a step's state that overlap in time share one: ``read()`` runs once for them.

    A takeover's check and early probe read the same state from their threads
    as it begins. A caller arriving while a read runs waits for that read and
    gets its answer (or its error), as if it had read at the same moment;
    one arriving after it ended reads anew, so no answer older than the call
    is ever handed out.
    """

    def __init__(self, read: Callable[[], T]) -> None:
        self._read = read
        self._lock = threading.Lock()
        self._flight: _Flight[T] | None = None

    def get(self) -> T:
        with self._lock:
            flight, leads = self._flight, self._flight is None
            if flight is None:
                flight = self._flight = _Flight()
        if not leads:
            flight.done.wait()
            if flight.value is None:
                assert flight.error is not None
                raise flight.error
            return flight.value[0]
        try:
            flight.value = (self._read(),)
        except BaseException as exc:
            flight.error = exc
            raise
        finally:
            with self._lock:
                self._flight = None
            flight.done.set()
        return flight.value[0]


class EarlyProbe(Generic[In, T]):
    """A read-only safety probe run in a thread from when a takeover begins, collected by its step's apply.

    In the thread, ``inputs()`` reads what the probe depends on (None: there
    is nothing to probe now), then ``probe(inputs)`` answers. :meth:`collect`
    gives the answer only when the step's own reading of the inputs is the
    same, else None: the step probes again, exactly as without an early
    probe. An exception of the probe is raised by :meth:`collect` (same
    inputs), as if the step had probed then. An answer may hold something
    (the ip step's open ARP socket, for the announcement): ``release`` is
    called with every answer not handed out, one collected on other inputs
    or one :meth:`drop`-ped, at once or when the probe ends. A probe that goes
    on until it is told to end (the ip step's watch started ahead) is told
    by ``finish``, called when it is collected or dropped.
    """

    def __init__(
        self,
        name: str,
        inputs: Callable[[], In | None],
        probe: Callable[[In], T],
        release: Callable[[T], object] | None = None,
        *,
        finish: Callable[[], object] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._inputs_fn = inputs
        self._probe = probe
        self._release = release
        self._finish = finish
        self._monotonic = monotonic
        self._inputs: In | None = None
        self._answer: tuple[T] | None = None
        self._error: Exception | None = None
        self._lock = threading.Lock()
        self._done = False
        self._dropped = False
        self._ended: float | None = None
        self._thread = threading.Thread(target=self._run, name=f"twinstar early {name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._inputs = self._inputs_fn()
            if self._inputs is not None:
                self._answer = (self._probe(self._inputs),)
        except Exception as exc:  # noqa: BLE001 - raised in the step's apply, where it belongs
            self._error = exc
        finally:
            self._ended = self._monotonic()
            with self._lock:
                self._done = True
                dropped = self._dropped
            if dropped:
                self._release_answer()

    def _release_answer(self) -> None:
        answer, self._answer = self._answer, None
        if answer is not None and self._release is not None:
            self._release(answer[0])

    def end(self) -> None:
        """Tell a probe that goes on until told (``finish``) to end; others end by themselves."""
        if self._finish is not None:
            self._finish()

    def wait(self) -> None:
        """Until the probe has ended."""
        self._thread.join()

    @property
    def running(self) -> bool:
        """Whether the probe has not ended yet."""
        return self._thread.is_alive()

    @property
    def age(self) -> float | None:
        """Seconds since the probe ended; None while it runs."""
        ended = self._ended
        return None if ended is None else self._monotonic() - ended

    def collect(self, inputs: In, *, max_age: float | None = None) -> tuple[T] | None:
        """``(answer,)`` when the probe ran on these ``inputs``; None when it did not, on other inputs,
        or (with ``max_age``) when it ended more than ``max_age`` seconds ago: too old to stand for now."""
        self.end()
        self.wait()
        stale = max_age is not None and (self.age or 0.0) > max_age
        if self._inputs is None or self._inputs != inputs or stale:
            self._release_answer()
            return None
        if self._error is not None:
            raise self._error
        answer, self._answer = self._answer, None
        return answer

    def drop(self) -> None:
        """Its step will not collect it: end it; release its answer now, or when it ends (never waited for)."""
        self.end()
        with self._lock:
            self._dropped = True
            done = self._done
        if done:
            self._release_answer()


class AheadProbes:
    """Early probes started before a takeover's steps exist, each waiting for the step of its key to adopt it.

    The daemon starts them (:meth:`Step.start_ahead`) when a listed unit
    arrives while the node is going to take over; each takeover builds its
    steps anew, and a step takes its own in :meth:`Step.start_early`. One per
    key: a newer probe replaces the one offered before, which is dropped
    (:meth:`EarlyProbe.drop`), as is one that ended longer ago than the
    ``max_age`` it was offered with (:meth:`drop_stale`: its step would not
    use it), and every probe :meth:`drop_all` finds.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._offered: dict[object, tuple[EarlyProbe[Any, Any], float]] = {}

    def offer(self, key: object, probe: EarlyProbe[Any, Any], *, max_age: float) -> None:
        with self._lock:
            old, self._offered[key] = self._offered.get(key), (probe, max_age)
        if old is not None:
            old[0].drop()

    def offered(self, key: object) -> EarlyProbe[Any, Any] | None:
        """The probe offered for ``key``, left offered; None when there is none."""
        with self._lock:
            found = self._offered.get(key)
        return found[0] if found is not None else None

    def take(self, key: object) -> EarlyProbe[Any, Any] | None:
        """The probe offered for ``key``, now the caller's; None when there is none."""
        with self._lock:
            found = self._offered.pop(key, None)
        return found[0] if found is not None else None

    def drop_stale(self) -> None:
        with self._lock:
            stale = [key for key, (probe, max_age) in self._offered.items() if (probe.age or 0.0) > max_age]
            probes = [self._offered.pop(key)[0] for key in stale]
        for probe in probes:
            probe.drop()

    def drop_all(self) -> None:
        with self._lock:
            probes, self._offered = [probe for probe, _ in self._offered.values()], {}
        for probe in probes:
            probe.drop()


#: This process's probes started ahead of a takeover (the daemon's, the prepared takeover runner's).
AHEAD = AheadProbes()


def start_ahead(steps: Sequence[Step]) -> list[str]:
    """Start the probes of ``steps`` that may run ahead of a takeover (:meth:`Step.start_ahead`); what failed,
    ``"STEP: error"`` each (that step probes in its turn instead)."""
    failed: list[str] = []
    for step in steps:
        if step.starts_ahead:
            try:
                step.start_ahead()
            except Exception as exc:  # noqa: BLE001 - never in the way of the takeover
                failed.append(f"{step.name}: {exc}")
    return failed


class Step(ABC):
    """One ordered part of the takeover."""

    #: Step type as written in the configuration (``dahdi``, ``drbd``...).
    kind: str = ""
    #: Whether a takeover may run this step's check when it begins, concurrently with the other
    #: checks and the applies of the steps before it (:mod:`twinstar.engine.startchecks`): true
    #: when the check reads only the step's own resource, which no other step's apply brings up.
    check_at_start: bool = False

    def __init__(self, name: str, timeout: float, ctx: StepContext) -> None:
        self.name = name
        self.timeout = timeout
        self.ctx = ctx

    def programs(self) -> tuple[str, ...]:
        """External programs this step runs (checked before any step runs)."""
        return ()

    def check_inputs(self) -> None:
        """Validate the step's own input files before a takeover runs any step.

        Raises :class:`~twinstar.errors.BadInputError` (exit 2, nothing changed).
        Most steps have no input files of their own: nothing to check.
        """
        return None

    @abstractmethod
    def check(self) -> Probe:
        """Read the real state; never changes anything."""

    @abstractmethod
    def apply(self) -> None:
        """Bring the resource up."""

    @abstractmethod
    def undo(self) -> None:
        """Take the resource down."""

    def start_early(self) -> EarlyProbe[Any, Any] | None:
        """Run for every step when a takeover begins: start a slow safety probe of apply (:class:`EarlyProbe`), and return it.

        Most steps have none: nothing to start.
        """
        return None

    def start_ahead(self) -> EarlyProbe[Any, Any] | None:
        """Start the probe :meth:`start_early` would, before a takeover, for the next takeover's step to adopt (:data:`AHEAD`).

        Most steps have none: nothing to start.
        """
        return None

    def forget_early(self) -> None:
        """Run when a takeover ends: drop an early probe its apply did not collect, and wait for what
        its apply left starting in the background (the ip step's detached sender)."""
        return None

    def refresh(self) -> None:
        """Run by a takeover whose check found the step up: tell others again what
        apply tells them after bringing it up. Most steps tell no one: nothing to do."""
        return None

    @property
    def starts_ahead(self) -> bool:
        """Whether this kind of step has a :meth:`start_ahead` (the daemon asks only those)."""
        return type(self).start_ahead is not Step.start_ahead

    @property
    def refreshes(self) -> bool:
        """Whether this kind of step has a :meth:`refresh` (the engine runs and journals only those)."""
        return type(self).refresh is not Step.refresh

    @abstractmethod
    def release_probe(self) -> Probe:
        """Is any part of this step up that undo would take down?

        ``check()`` answers "is everything up" (takeover skips the step then);
        this answers "is anything up", and each step says what that means for
        it: up when in doubt, since undo of what is down changes nothing.
        """

    def run_program(self, argv: Sequence[str], *, failure: str, hint: str | None = None) -> None:
        """Run ``argv`` within the step's timeout; failing, it is a StepError ``<failure>: <what the runner said>``."""
        try:
            self.ctx.runner.run(argv, timeout=self.timeout)
        except ProgramError as exc:
            raise StepError(self.name, f"{failure}: {exc}", hint=hint) from None

    def verify(self) -> None:
        """Read the state back after apply; raise when it is not up."""
        self._verified(self.check())

    def verify_undone(self) -> None:
        """Read the state back after undo; raise when it is still up."""
        self._verified_undone(self.release_probe())

    def _verified(self, probe: Probe) -> None:
        if not probe.up:
            raise StepError(self.name, f"not up after apply: {probe.detail or 'check failed'}")

    def _verified_undone(self, probe: Probe) -> None:
        if probe.up:
            raise StepError(self.name, f"still up after undo: {probe.detail or 'check says up'}")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"
