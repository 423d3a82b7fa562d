"""Logging to stderr and to syslog (identifier ``twinstar``).

Uses the C ``syslog`` module rather than ``logging.handlers`` so the udev hook
stays cheap to start. Step events are logged one line each by
:func:`step_event`.
"""

from __future__ import annotations

import logging
import sys
import syslog

from twinstar import settings

_PRIORITY = {
    logging.DEBUG: syslog.LOG_DEBUG,
    logging.INFO: syslog.LOG_INFO,
    logging.WARNING: syslog.LOG_WARNING,
    logging.ERROR: syslog.LOG_ERR,
    logging.CRITICAL: syslog.LOG_CRIT,
}


class SyslogHandler(logging.Handler):
    """Sends records to the system logger through libc's syslog(3)."""

    def __init__(self, ident: str = settings.SYSLOG_IDENT) -> None:
        super().__init__()
        syslog.openlog(ident, syslog.LOG_PID, syslog.LOG_DAEMON)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            msg = self.format(record)
            # syslog() takes a C string: NUL bytes would raise.
            syslog.syslog(_PRIORITY.get(record.levelno, syslog.LOG_INFO), msg.replace("\x00", "\\0"))
        except Exception:  # noqa: BLE001 - logging must never break the caller
            self.handleError(record)


class _StderrFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        if record.levelno >= logging.WARNING:
            return f"twinstar: {record.levelname.lower()}: {text}"
        return f"twinstar: {text}"


def setup(*, verbose: bool = False, use_syslog: bool = True, stderr: bool = True) -> None:
    """Configure the ``twinstar`` logger once per process."""
    root = logging.getLogger("twinstar")
    for old in list(root.handlers):
        root.removeHandler(old)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    root.propagate = False
    if stderr:
        h: logging.Handler = logging.StreamHandler(sys.stderr)
        h.setFormatter(_StderrFormatter("%(message)s"))
        root.addHandler(h)
    if use_syslog:
        s = SyslogHandler()
        s.setFormatter(logging.Formatter("%(message)s"))
        root.addHandler(s)


def step_event(
    logger: logging.Logger,
    *,
    action: str,
    step: str,
    phase: str,
    result: str,
    duration: float,
    error: str | None = None,
) -> None:
    """One line per step event: action, step, phase, duration and result."""
    line = f"{action} {step} {phase}: {result} ({duration * 1000:.0f} ms)"
    if error:
        line += f": {error}"
    logger.log(logging.ERROR if result == "failed" else logging.INFO, line)
