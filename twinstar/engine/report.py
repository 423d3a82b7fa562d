"""What a takeover or release did, step by step: the engine's answer to its caller.

``twinstar takeover``/``release`` print it, the hook logs it, and its JSON
form is state.json's ``last_transition`` (:mod:`twinstar.engine.records`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from twinstar import words
from twinstar.engine.state import Role
from twinstar.errors import ExitStatus

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from twinstar.engine.records import StepJson, Transition


class Action(StrEnum):
    TAKEOVER = words.TAKEOVER
    RELEASE = words.RELEASE


class StepResult(StrEnum):
    """What happened to one step in one phase."""

    DONE = "done"  # applied and verified
    ALREADY = "already"  # already in the wanted state: nothing done
    UNDONE = "undone"  # taken down and verified down
    FAILED = "failed"
    REFUSED = "refused"
    WOULD_APPLY = "would-apply"  # dry run
    WOULD_UNDO = "would-undo"  # dry run


@dataclass(frozen=True)
class StepOutcome:
    """What one phase of one step did, and how long it took."""

    step: str
    phase: str
    result: StepResult
    duration: float
    detail: str = ""
    error: str | None = None
    #: The concurrent group the step came up in (:func:`twinstar.engine.runner.group_label`), if any.
    group: str | None = None

    def to_json(self) -> StepJson:
        out: StepJson = {
            "step": self.step,
            "phase": self.phase,
            "result": self.result.value,
            "duration_ms": round(self.duration * 1000, 1),
            "detail": self.detail,
            "error": self.error,
        }
        if self.group is not None:
            out["group"] = self.group
        return out


@dataclass(frozen=True)
class Report:
    """The outcome of one takeover or release."""

    action: Action
    exit_status: ExitStatus
    role: Role
    steps: tuple[StepOutcome, ...]
    rollback: tuple[StepOutcome, ...] = ()
    duration: float = 0.0
    error: str | None = None
    recovered: str | None = None
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        return self.exit_status == ExitStatus.OK

    @property
    def verdict(self) -> str:
        """``ok``, ``refused`` or ``failed``."""
        if self.ok:
            return "ok"
        return "refused" if self.exit_status == ExitStatus.REFUSED else "failed"

    @property
    def changed(self) -> bool:
        return any(o.result in (StepResult.DONE, StepResult.UNDONE) for o in self.steps + self.rollback)

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action.value,
            "ok": self.ok,
            "exit_status": int(self.exit_status),
            "dry_run": self.dry_run,
            "role": self.role.value,
            "changed": self.changed,
            "duration_ms": round(self.duration * 1000, 1),
            "error": self.error,
            "recovered": self.recovered,
            "steps": [o.to_json() for o in self.steps],
            "rollback": [o.to_json() for o in self.rollback],
        }

    def transition(self, *, started: float, ended: float) -> Transition:
        """How this run ended, as state.json's ``last_transition`` and the journal's ``end`` line record it."""
        return {
            "action": self.action.value,
            "result": self.verdict,
            "started": started,
            "ended": ended,
            "duration_ms": round(self.duration * 1000, 1),
            "error": self.error,
            "recovered": self.recovered,
            "steps": [o.to_json() for o in self.steps],
            "rollback": [o.to_json() for o in self.rollback],
        }
