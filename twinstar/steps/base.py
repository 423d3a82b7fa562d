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
  over, and the next takeover's step adopts it (:data:`~twinstar.steps.early.AHEAD`) in
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
from twinstar.steps.early import EarlyProbe

TYPE_CHECKING = False
if TYPE_CHECKING:
    from twinstar.config import Config
    from twinstar.steps.systemd_bus import SystemdBus

T = TypeVar("T")


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
        """Start the probe :meth:`start_early` would, before a takeover, for the next takeover's step to adopt (:data:`~twinstar.steps.early.AHEAD`).

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
