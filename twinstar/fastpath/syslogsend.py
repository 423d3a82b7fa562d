"""Syslog without blocking: one datagram per line to ``/dev/log``, dropped rather than waited for.

libc's syslog(3) blocks when the system logger's queue is full (the socket
backlog is ``net.unix.max_dgram_qlen``, 10 by default), so a stalled journald
or rsyslog would stall a takeover, the daemon or the udev hook. This sender
writes the same line format as glibc (``<PRI>Mmm dd hh:mm:ss ident[pid]: msg``)
on a non-blocking socket; a line the logger cannot take is counted and
dropped, never waited for (stderr still has it). Only built-in modules are
imported, so the udev hook can afford it.
"""

from __future__ import annotations

import _socket
import os
import sys
import time

from twinstar import settings

LOG_DAEMON = 3 << 3
LOG_CRIT, LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG = 2, 3, 4, 6, 7
DEV_LOG = "/dev/log"


class SyslogSender:
    """Sends lines to the system logger as ``ident[pid]`` with facility daemon."""

    def __init__(self, ident: str, *, facility: int = LOG_DAEMON, path: str = DEV_LOG) -> None:
        self.ident = ident
        self.facility = facility
        self.path = path
        self.dropped = 0
        self._sock: _socket.socket | None = None

    def _connect(self) -> bool:
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            sock.connect(self.path)
        except OSError:
            sock.close()
            return False
        self._sock = sock
        return True

    def send(self, priority: int, message: str) -> bool:
        """Send one line; False when there is no logger or its queue is full (the line is dropped)."""
        stamp = time.strftime("%b %e %H:%M:%S")
        message = message.replace("\x00", "\\0")  # a C logger would cut the line there
        text = f"<{self.facility | priority}>{stamp} {self.ident}[{os.getpid()}]: {message}"
        data = text.encode("utf-8", "backslashreplace")
        for _attempt in (1, 2):
            if self._sock is None and not self._connect():
                return False
            assert self._sock is not None
            try:
                self._sock.send(data)
                return True
            except BlockingIOError:
                self.dropped += 1
                return False
            except OSError:
                # The logger restarted (ECONNREFUSED) or the socket went away: reconnect once.
                self.close()
        self.dropped += 1
        return False

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


_line_sender: SyslogSender | None = None


def log_line(line: str, *, error: bool = False, critical: bool = False) -> None:
    """One line to syslog (identifier ``twinstar``) and stderr, without the logging module; ``critical``: at LOG_CRIT."""
    global _line_sender
    line = line.replace("\x00", "\\x00")
    if _line_sender is None:
        _line_sender = SyslogSender(settings.SYSLOG_IDENT)
    _line_sender.send(LOG_CRIT if critical else LOG_ERR if error else LOG_INFO, line)
    try:
        sys.stderr.write(f"twinstar: {'ALARM: ' if critical else 'error: ' if error else ''}{line}\n")
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):
        pass  # no stderr (closed by the caller): syslog has it
