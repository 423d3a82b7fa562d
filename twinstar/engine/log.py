"""Logging to stderr and to syslog (identifier ``twinstar``), or to the journal once.

Syslog goes through :mod:`twinstar.fastpath.syslogsend`, which never blocks on a
stalled system logger. Under systemd, when stderr is the service's journal
stream (``$JOURNAL_STREAM``), every line goes there only, led by its syslog
priority (``<3>``): through syslog as well, journald would store it twice.
Step events are logged one line each by :func:`step_event`.
"""

from __future__ import annotations

import logging
import sys

from twinstar import settings
from twinstar.fastpath import syslogsend

_PRIORITY = {
    logging.DEBUG: syslogsend.LOG_DEBUG,
    logging.INFO: syslogsend.LOG_INFO,
    logging.WARNING: syslogsend.LOG_WARNING,
    logging.ERROR: syslogsend.LOG_ERR,
    logging.CRITICAL: syslogsend.LOG_CRIT,
}


class SyslogHandler(logging.Handler):
    """Sends records to the system logger, never blocking on it (see :mod:`twinstar.fastpath.syslogsend`)."""

    def __init__(self, ident: str = settings.SYSLOG_IDENT) -> None:
        super().__init__()
        self.sender = syslogsend.SyslogSender(ident)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.sender.send(_PRIORITY.get(record.levelno, syslogsend.LOG_INFO), self.format(record))
        except Exception:  # noqa: BLE001 - logging must never break the caller
            self.handleError(record)

    def close(self) -> None:
        self.sender.close()
        super().close()


class _StderrFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        if record.levelno >= logging.WARNING:
            return f"twinstar: {record.levelname.lower()}: {text}"
        return f"twinstar: {text}"


class _JournalFormatter(logging.Formatter):
    """Each line led by its syslog priority, which journald reads from a stream (sd-daemon(3))."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        return syslogsend.journal_line(_PRIORITY.get(record.levelno, syslogsend.LOG_INFO), text).rstrip("\n")


def setup(*, verbose: bool = False, use_syslog: bool = True, stderr: bool = True) -> None:
    """Configure the ``twinstar`` logger once per process.

    When stderr is the journal, it is the one channel (whatever ``use_syslog``
    says: the journal is the system log there).
    """
    root = logging.getLogger("twinstar")
    for old in list(root.handlers):
        root.removeHandler(old)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    root.propagate = False
    if (stderr or use_syslog) and syslogsend.journal_stream():
        journal = logging.StreamHandler(sys.stderr)
        journal.setFormatter(_JournalFormatter("%(message)s"))
        root.addHandler(journal)
        return
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
