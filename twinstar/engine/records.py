"""The JSON records the engine writes: state.json's last transition and the journal's lines.

Typed so that a writer cannot drop or misspell a key that ``twinstar status``,
the daemon or an operator reading the journal relies on; readers get plain
JSON back (what is on disk is not trusted to match).
"""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict


class StepJson(TypedDict):
    """One step's outcome in a report (:meth:`twinstar.engine.report.StepOutcome.to_json`)."""

    step: str
    phase: str
    result: str
    duration_ms: float
    detail: str
    error: str | None
    group: NotRequired[str]  # the concurrent group the step came up in


class Transition(TypedDict):
    """How the last takeover or release ended: ``last_transition`` in state.json."""

    action: str
    result: str  # ok, refused or failed
    started: float
    ended: float
    duration_ms: float
    error: str | None
    recovered: str | None
    steps: list[StepJson]
    rollback: list[StepJson]


class BeginLine(TypedDict):
    ts: float
    run: str
    event: Literal["begin"]
    action: str
    pid: int


class EndLine(Transition):
    ts: float
    event: Literal["end"]


class RecoveryLine(TypedDict):
    ts: float
    event: Literal["recovery"]
    action: str
    message: str


class PhaseLine(TypedDict):
    """One phase of one step: ``result`` is ``started`` when it begins, then up, down, ok, failed or refused."""

    run: str
    action: str
    step: str
    phase: str
    start: float
    result: str
    end: NotRequired[float]
    error: NotRequired[str]


class GroupLine(TypedDict):
    """A concurrent group of a takeover: ``result`` is ``started``, then ``up`` or ``failed: STEP, ...`` (each member journals its own phases)."""

    ts: float
    run: str
    event: Literal["group"]
    action: str
    group: str
    result: str


class StepDownLine(TypedDict):
    """The daemon found a step down while active and ``action`` says what it did."""

    ts: float
    event: Literal["step-down"]
    step: str
    detail: str
    action: str  # logged, restarted or restart-failed
    error: NotRequired[str]


class ReadyLine(TypedDict):
    """One ``on_ready`` command after takeover ``run``: ``result`` is ``started``, then ``ok``, ``failed`` or ``timeout``."""

    ts: float
    run: str
    event: Literal["ready"]
    argv: list[str]
    result: str
    duration_ms: NotRequired[float]
    error: NotRequired[str]


class PolicyLine(TypedDict):
    """What the pair policy did or planned (a try counted, a hand-back, the units left)."""

    ts: float
    event: Literal["policy"]
    node: str
    detail: str


JournalLine = BeginLine | EndLine | RecoveryLine | PhaseLine | GroupLine | StepDownLine | ReadyLine | PolicyLine
