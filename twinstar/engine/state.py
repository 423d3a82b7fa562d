"""The node's state: its role in ``state.json``, and where ``state_dir`` keeps it.

``state.json`` says which role the node is in and, while a takeover or
release runs, which process runs it (pid, start time, boot id); a role of
``starting``/``stopping`` whose process is gone means that transition was
interrupted. :mod:`twinstar.fastpath.statefile` reads it, for the hook too.
The files themselves are handled by :mod:`twinstar.engine.statedir`, the
journal by :mod:`twinstar.engine.journal`, the lock by :mod:`twinstar.engine.lock`.
"""

from __future__ import annotations

import os
from dataclasses import KW_ONLY, asdict, dataclass
from enum import StrEnum
from typing import cast

from twinstar import settings, words
from twinstar.engine import journal
from twinstar.engine.statedir import ensure_dir, write_json
from twinstar.fastpath import procid, statefile

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from twinstar.engine.records import JournalLine, Transition


class Role(StrEnum):
    STANDBY = words.STANDBY
    STARTING = words.STARTING
    ACTIVE = words.ACTIVE
    STOPPING = words.STOPPING
    FAILED = words.FAILED


@dataclass(frozen=True)
class NodeState:
    """What ``state.json`` holds.

    ``pid``, ``pid_start`` and ``boot_id`` name the process running a
    transition (:mod:`twinstar.fastpath.procid`); ``since`` is when the role was
    entered on the wall clock, ``since_boot`` on the boot clock of ``boot_id``.
    """

    _: KW_ONLY
    role: Role = Role.STANDBY
    pid: int | None = None
    since: float = 0.0
    last_transition: Transition | None = None
    node: str = ""
    pid_start: int | None = None
    boot_id: str = ""
    since_boot: float | None = None

    @classmethod
    def now(
        cls, role: Role, *, since: float, running: bool = False, last_transition: Transition | None = None, node: str = ""
    ) -> NodeState:
        """The state to write now: stamped with the boot clock and, while ``running`` a transition, this process's identity."""
        pid, start, boot = procid.identity(os.getpid())
        return cls(
            role=role,
            pid=pid if running else None,
            pid_start=start if running else None,
            boot_id=boot,
            since=since,
            since_boot=procid.boottime(),
            last_transition=last_transition,
            node=node,
        )

    @property
    def in_transition(self) -> bool:
        return self.role in (Role.STARTING, Role.STOPPING)

    def interrupted(self) -> bool:
        """A transition whose process is gone: it was killed half-way (a reused pid does not count)."""
        return self.in_transition and not procid.process_alive(self.pid, self.pid_start, self.boot_id)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["role"] = self.role.value
        return d


@dataclass
class StateStore:
    """``state_dir`` and what it holds; the journal's size and rotated files as configured (``journal:``)."""

    directory: str
    journal_max_bytes: int = settings.JOURNAL_MAX_MIB << 20
    journal_keep: int = settings.JOURNAL_KEEP

    @property
    def state_path(self) -> str:
        return os.path.join(self.directory, settings.STATE_FILE)

    @property
    def journal_path(self) -> str:
        return os.path.join(self.directory, settings.JOURNAL_FILE)

    @property
    def lock_path(self) -> str:
        return os.path.join(self.directory, settings.LOCK_FILE)

    def read(self) -> NodeState:
        raw = statefile.read_object(self.state_path)
        if raw is None:
            return NodeState()
        view = statefile.parse_node(raw, self.state_path)
        return NodeState(
            role=Role(view.role),
            pid=view.pid,
            since=view.since,
            last_transition=cast("Transition | None", view.last_transition),  # as the engine wrote it
            node=view.node,
            pid_start=view.pid_start,
            boot_id=view.boot_id,
            since_boot=view.since_boot,
        )

    def write(self, state: NodeState) -> None:
        ensure_dir(self.directory)
        write_json(self.state_path, state.to_json())

    def journal(self, line: JournalLine) -> None:
        """Append one line to the journal (:func:`twinstar.engine.journal.append`)."""
        ensure_dir(self.directory)
        journal.append(self.journal_path, line, max_bytes=self.journal_max_bytes, keep=self.journal_keep)

    def read_journal(self, last: int | None = None) -> list[dict[str, Any]]:
        """The journal's lines, the ``last`` ones (:func:`twinstar.engine.journal.read`)."""
        return journal.read(self.journal_path, last)
