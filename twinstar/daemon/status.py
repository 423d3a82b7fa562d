"""The daemon's state as ``twinstar status`` shows it, read from ``state_dir/daemon.json``.

Kept apart from :mod:`twinstar.daemon.loop` so that ``status`` does not import the
daemon's event loop, monitor and engine to read one file.
"""

from __future__ import annotations

import os
import time
from typing import Any

from twinstar import settings
from twinstar.config import Config
from twinstar.engine.state import pid_alive, read_json
from twinstar.errors import TwinstarError


def daemon_status(config: Config) -> dict[str, Any] | None:
    """The daemon's last recorded state, with ``running``; None when it never ran here."""
    path = os.path.join(config.state_dir, settings.DAEMON_STATE_FILE)
    try:
        data = read_json(path)
    except TwinstarError as exc:
        return {"running": False, "error": str(exc)}
    if data is None:
        return None
    pid = data.get("pid")
    data["running"] = bool(isinstance(pid, int) and not data.get("stopped") and pid_alive(pid))
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
