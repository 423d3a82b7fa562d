"""Telling people: every transition, hand-back and alarm goes to syslog and to the ``policy.notify`` commands.

An alarm is logged at LOG_CRIT; the rest at LOG_INFO (LOG_ERR when it
failed). Each configured command (an argv list, never a shell) gets the
event as one JSON object on stdin. The commands run off the critical path:
:func:`dispatch` starts a detached process (double fork, new session) that
runs them one after the other, each bounded by ``policy.notify_timeout``
(its process group killed when the time is up, :mod:`twinstar.engine.proc`),
and returns at once; nobody waits for a mail server during a takeover.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Mapping, Sequence
from typing import Any

from twinstar.engine.proc import ProgramRunner
from twinstar.errors import ProgramError
from twinstar.fastpath.syslogsend import log_line

#: The kinds of event.
TRANSITION, HAND_BACK, ALARM, ALARM_CLEARED, RETRY, HOLD, MAINTENANCE = (
    "transition", "hand-back", "alarm", "alarm-cleared", "retry", "hold", "maintenance",
)
KINDS = (TRANSITION, HAND_BACK, ALARM, ALARM_CLEARED, RETRY, HOLD, MAINTENANCE)


def event(kind: str, node: str, message: str, **detail: Any) -> dict[str, Any]:
    """One event as the notify commands read it."""
    if kind not in KINDS:
        raise ValueError(f"unknown event kind {kind!r}")
    return {"event": kind, "node": node, "host": socket.gethostname(), "time": time.time(), "message": message, **detail}


def run_commands(
    commands: Sequence[Sequence[str]], payload: Mapping[str, Any], *, timeout: float, programs: Mapping[str, str]
) -> list[str]:
    """Run each command with ``payload`` as JSON on stdin, each at most ``timeout`` s; a line per command that failed."""
    text = json.dumps(payload, sort_keys=True) + "\n"
    runner = ProgramRunner(programs=programs)
    problems = []
    for argv in commands:
        try:
            result = runner.run(argv, timeout=timeout, input=text, ok_codes=None, quiet=True)
        except ProgramError as exc:
            problems.append(f"notify {argv[0]}: {exc}")
            continue
        if result.returncode != 0:
            problems.append(f"notify {argv[0]}: exit status {result.returncode}")
    return problems


def announce(
    payload: Mapping[str, Any],
    commands: Sequence[Sequence[str]],
    *,
    timeout: float,
    programs: Mapping[str, str],
    failed: bool = False,
) -> None:
    """Log the event (an alarm at LOG_CRIT) and hand it to the notify commands (:func:`dispatch`)."""
    kind, line = payload["event"], f"{payload['event']}: {payload['message']}"
    log_line(line, critical=kind == ALARM, error=failed)
    if commands:
        try:
            dispatch(commands, payload, timeout=timeout, programs=programs)
        except (OSError, ProgramError) as exc:
            log_line(f"notify: cannot start the commands: {exc}", error=True)


def dispatch(
    commands: Sequence[Sequence[str]], payload: Mapping[str, Any], *, timeout: float, programs: Mapping[str, str]
) -> int:
    """Run :func:`run_commands` in a detached process (:func:`~twinstar.fastpath.detach.spawn_detached`); its pid.

    Returns without waiting for it.
    """
    from twinstar.fastpath.detach import spawn_detached

    def run() -> int:
        for problem in run_commands(commands, payload, timeout=timeout, programs=programs):
            log_line(problem, error=True)
        return 0

    return spawn_detached(["twinstar-notify"], dict(os.environ), run=run)
