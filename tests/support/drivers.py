"""The fake xpp and dahdi drivers acting by themselves, for code that writes to sysfs and waits, as a takeover does.

Stand-in: the kernel drivers cannot load on a build machine. The kernel acts
on a write to ``dahdi_registration`` or ``assign_span`` before the write
returns; here a thread runs :meth:`~twinstar.standins.fakesysfs.FakeSysfs.drive`
of each tree every few milliseconds, and the waiting code (the ``dahdi``
step, in this process or in the programs a test starts) reads again until it
has acted. Where the waiting code's clock can be injected,
:class:`tests.support.telephony.DriverClock` drives without a thread.
"""

from __future__ import annotations

import threading
from types import TracebackType

from twinstar.standins.fakesysfs import FakeSysfs

#: Seconds between two rounds of the drivers.
POLL = 0.005


class Drivers:
    """A thread acting for the drivers of ``trees`` while the ``with`` block runs; it fails the block if they fail.

    Hold :attr:`lock` to change a tree in several writes the drivers must not
    see halfway (a unit arriving: its xbus exists before its attributes do).
    """

    def __init__(self, *trees: FakeSysfs, poll: float = POLL) -> None:
        self.trees = trees
        self.poll = poll
        self.lock = threading.Lock()
        self.done: list[str] = []
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.poll):
                with self.lock:
                    for tree in self.trees:
                        self.done += tree.drive()
        except BaseException as exc:  # reported by __exit__, in the test's thread
            self.error = exc

    def __enter__(self) -> Drivers:
        if self._thread is not None:
            raise RuntimeError("these drivers run already")
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="tspm-dahdi-drivers", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        thread, self._thread = self._thread, None
        self._stop.set()
        if thread is not None:
            thread.join(timeout=60)
            if thread.is_alive():
                raise AssertionError("the fake DAHDI drivers did not stop within 60 s")
        if self.error is None:
            return
        if exc is None:
            raise AssertionError(f"the fake DAHDI drivers failed: {self.error!r}") from self.error
        exc.add_note(f"the fake DAHDI drivers had failed: {self.error!r}")
