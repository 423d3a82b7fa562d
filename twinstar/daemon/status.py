"""The daemon's status file ``state_dir/daemon.json``: what it holds, and how ``twinstar status`` shows it.

Kept apart from :mod:`twinstar.daemon.loop` so that ``status`` does not import the
daemon's event loop, monitor and engine to read one file.
"""

from __future__ import annotations

import os
import time
from typing import Any, NotRequired, TypedDict

from twinstar import settings
from twinstar.config import Config
from twinstar.engine.records import Transition
from twinstar.errors import TwinstarError
from twinstar.fastpath.procid import process_alive
from twinstar.fastpath.statefile import read_object


class UnitJson(TypedDict):
    entry: str  # the xpp_order entry
    state: str
    detail: str
    xbus: str | None


class ReadinessJson(TypedDict):
    """The units' readiness; only ``summary`` when the decision did not evaluate it."""

    summary: str
    ready: NotRequired[int]
    listed: NotRequired[int]
    all_ready: NotRequired[bool]
    units: NotRequired[list[UnitJson]]


class LastEvent(TypedDict):
    action: str
    devpath: str
    at: float


class LastEvaluation(TypedDict):
    at: float
    why: str  # the event, or the timer or reload that asked
    decision: str
    line: str


class StepDown(TypedDict):
    at: float
    detail: str
    action: str | None  # logged, waiting (a restart's delay), restarted or restart-failed


class StepCheck(TypedDict):
    """The last check of one step while active."""

    up: bool
    detail: str
    at: float
    action: str | None
    last_down: StepDown | None
    error: NotRequired[str]


class LastReload(TypedDict):
    at: float
    ok: bool
    error: str | None


class LastError(TypedDict):
    at: float
    message: str


class Unreadable(TypedDict):
    """Stands for state.json's last transition when state.json cannot be read."""

    error: str


class DaemonInfo(TypedDict):
    """What the daemon keeps about itself."""

    pid: int
    node: str
    config: str
    started: float
    stopped: float | None
    ready: bool
    readiness: ReadinessJson | None
    last_event: LastEvent | None
    last_evaluation: LastEvaluation | None
    checks: dict[str, StepCheck]
    last_check: float | None
    last_arp_refresh: float | None
    last_error: LastError | None
    last_reload: LastReload | None


class DaemonSnapshot(DaemonInfo):
    """:class:`DaemonInfo` with the node's role; written to daemon.json with ``updated``."""

    role: str
    last_transition: Transition | Unreadable | None
    monitor: bool


def daemon_status(config: Config) -> dict[str, Any] | None:
    """The daemon's last recorded state, with ``running``; None when it never ran here."""
    path = os.path.join(config.state_dir, settings.DAEMON_STATE_FILE)
    try:
        data = read_object(path)
    except TwinstarError as exc:
        return {"running": False, "error": str(exc)}
    if data is None:
        return None
    pid = data.get("pid")
    data["running"] = bool(isinstance(pid, int) and not data.get("stopped") and process_alive(pid))
    return data


def render_daemon_status(status: dict[str, Any] | None) -> list[str]:
    """Lines for ``twinstar status``."""
    if status is None:
        return ["daemon: not running (never started with this state_dir)"]
    if "error" in status and "pid" not in status:
        return [f"daemon: unknown ({status['error']})"]
    if status.get("running"):
        head = f"daemon: running (pid {status.get('pid')})"
    else:
        head = f"daemon: not running (last pid {status.get('pid')}, stopped {_when(status.get('stopped'))})"
    lines = [head]
    readiness = status.get("readiness") or {}
    lines.append(f"  role {status.get('role', '?')}; {readiness.get('summary') or 'readiness not evaluated'}")
    evaluation = status.get("last_evaluation")
    if evaluation:
        lines.append(f"  last evaluation {_when(evaluation.get('at'))} ({evaluation.get('why')}): {evaluation.get('decision')}")
    transition = status.get("last_transition")
    if transition and "action" in transition:
        lines.append(f"  last transition: {transition.get('action')} {transition.get('result')} at {_when(transition.get('ended'))}")
    checks = status.get("checks") or {}
    if checks:
        lines.append(f"  step checks at {_when(status.get('last_check'))}:")
        for name, entry in checks.items():
            word = "up" if entry.get("up") else "DOWN"
            extra = f" ({entry['action']})" if entry.get("action") else ""
            detail = f": {entry['detail']}" if entry.get("detail") and not entry.get("up") else ""
            lines.append(f"    {name:<32} {word}{extra}{detail}")
            down = entry.get("last_down")
            if entry.get("up") and down:
                lines.append(f"    {'':<32} was down at {_when(down.get('at'))} ({down.get('action')}): {down.get('detail')}")
    error = status.get("last_error")
    if error:
        lines.append(f"  last error {_when(error.get('at'))}: {error.get('message')}")
    return lines


def _when(ts: Any) -> str:
    if not isinstance(ts, int | float) or not ts:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))
