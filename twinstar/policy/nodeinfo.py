"""What ``twinstar status`` and ``twinstar check`` say about the node beyond its role: the policy's side.

The maintenance file, the operator's hold, the alarm, the last hand-back and
the takeover tries, as lines for people (only what there is to say: a quiet
node gives none) and as one JSON object (every field, for programs).
"""

from __future__ import annotations

import os
import time
from typing import Any

from twinstar.config import Config
from twinstar.fastpath import procid
from twinstar.fastpath.policyfile import read_policy


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "unknown time"


def node_state(config: Config) -> tuple[list[str], dict[str, Any]]:
    """(lines, JSON) of the maintenance file, hold, alarm, last hand-back and tries."""
    view = read_policy(config.state_dir)
    maintenance = os.path.lexists(config.maintenance_file)
    due = None if view.retry_at is None else max(0.0, view.retry_at - procid.boottime())
    data: dict[str, Any] = {
        "maintenance": maintenance,
        "maintenance_file": config.maintenance_file,
        "hold": None if view.hold is None else {"command": view.hold, "since": view.hold_since, "units_left": view.hold_left},
        "alarm": None if view.alarm is None else {"text": view.alarm, "since": view.alarm_since},
        "last_hand_back": view.last_hand_back,
        "hand_backs": view.hand_backs,
        "takeover_tries": view.tries,
        "retries_spent": view.spent,
        "next_retry_in": None if due is None else round(due, 1),
    }
    lines = []
    if maintenance:
        lines.append(f"maintenance: ON ({config.maintenance_file} is present): no automatic takeover, release or watchdog re-arm")
    if view.hold is not None:
        until = "until the units are back" if view.hold_left else "until the units leave and come back"
        other = "takeover" if view.hold == "release" else "release"
        lines.append(f"operator hold: {view.hold} since {_when(view.hold_since)} ({until}, or twinstar {other})")
    if view.alarm is not None:
        lines.append(f"ALARM: {view.alarm} (since {_when(view.alarm_since)})")
    if view.last_hand_back is not None:
        at = view.last_hand_back.get("at")
        lines.append(
            f"last hand-back: {_when(at if isinstance(at, float | int) else None)}: {view.last_hand_back.get('reason')} "
            f"({view.hand_backs} in all)"
        )
    if view.tries:
        plan = "retries spent" if view.spent else f"next try in {due:.0f} s" if due is not None else "no retry planned"
        lines.append(f"takeover tries failed: {view.tries} ({plan})")
    return lines, data
