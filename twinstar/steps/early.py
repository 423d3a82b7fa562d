"""Read-only safety probes run in a thread before their step's apply: started when a takeover
begins (:class:`EarlyProbe`), or before there is one and adopted by its step (:data:`AHEAD`).

Light on purpose (no engine, no configuration): the prepared takeover runner
starts the ip step's probe with it before it loads the rest
(:mod:`twinstar.steps.ip_dad`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")
In = TypeVar("In")


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
