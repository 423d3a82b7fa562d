"""A registry of undo actions, run in reverse order exactly once.

Every resource the demo creates (namespace, loop device, mount, process,
directory) registers how to remove it right after creating it, so a failure
or Ctrl-C at any point leaves nothing behind. SIGINT and SIGTERM are turned
into :class:`Interrupted` while the registry is armed, so the ``finally``
that runs the registry is reached.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType

from twinstar.engine.proc import signals_held

log = logging.getLogger("twinstar.demo.cleanup")


class Interrupted(Exception):
    """SIGINT or SIGTERM arrived while the demo ran."""


@dataclass
class CleanupRegistry:
    """Undo actions in creation order; :meth:`run` undoes them newest first."""

    actions: list[tuple[str, Callable[[], object]]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def add(self, what: str, undo: Callable[[], object]) -> None:
        self.actions.append((what, undo))

    def run(self) -> list[str]:
        """Run every undo action (newest first), carrying on past failures; the failures.

        SIGINT and SIGTERM wait until every action has run (:func:`signals_held`).
        """
        with signals_held():
            while self.actions:
                what, undo = self.actions.pop()
                try:
                    undo()
                except Exception as exc:  # noqa: BLE001 - cleanup must go on
                    message = f"cleanup of {what} failed: {exc}"
                    log.warning(message)
                    self.failures.append(message)
        return self.failures

    def forget(self) -> list[str]:
        """Drop every action without running it (``--keep``); what was kept."""
        kept = [what for what, _ in self.actions]
        self.actions.clear()
        return kept


@contextmanager
def signals_interrupt() -> Iterator[None]:
    """Raise :class:`Interrupted` on SIGINT/SIGTERM inside the block (main thread only).

    A second signal while cleanup runs is ignored, so cleanup is not cut short.
    """

    def handler(signum: int, frame: FrameType | None) -> None:
        for s in (signal.SIGINT, signal.SIGTERM):
            signal.signal(s, signal.SIG_IGN)
        raise Interrupted(signal.Signals(signum).name)

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)
