"""Syslog without blocking: one datagram per line to ``/dev/log``, dropped rather than waited for.

libc's syslog(3) blocks when the system logger's queue is full (the socket
backlog is ``net.unix.max_dgram_qlen``, 10 by default), so a stalled journald
or rsyslog would stall a takeover, the daemon or the udev hook. This sender
writes the same line format as glibc (``<PRI>Mmm dd hh:mm:ss ident[pid]: msg``)
on a non-blocking socket; a line the logger cannot take is counted and
dropped, never waited for (stderr still has it). Only built-in modules are
imported (:mod:`posix`, not :mod:`os`), so the udev hook can afford it.
"""

import _socket
import posix
import sys
import time

from twinstar import settings

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

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
        text = f"<{self.facility | priority}>{stamp} {self.ident}[{posix.getpid()}]: {message}"
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


def journal_stream(fd: int = 2, environ: "Mapping[str, str] | None" = None) -> bool:
    """Whether ``fd`` is the journal stream systemd connected (``$JOURNAL_STREAM`` names its device and inode).

    systemd sets ``JOURNAL_STREAM=DEVICE:INODE`` for a service whose stdout or
    stderr goes to the journal (systemd.exec(5)); comparing it with the file
    descriptor tells that stream from one the caller redirected since, or
    from an inherited variable.
    """
    device, _, inode = (settings.process_environ() if environ is None else environ).get("JOURNAL_STREAM", "").partition(":")
    if not (device.isdigit() and inode.isdigit()):
        return False
    try:
        st = posix.fstat(fd)
    except OSError:
        return False
    return st.st_dev == int(device) and st.st_ino == int(inode)


def journal_line(priority: int, message: str) -> str:
    """``message`` for a journal stream: each line led by its syslog priority (``<3>``, sd-daemon(3))."""
    return "".join(f"<{priority}>{line}\n" for line in message.splitlines() or [""])


_line_sender: "SyslogSender | None" = None


def forget_connection() -> None:
    """Drop :func:`log_line`'s connection without closing its descriptor (a forked child about to close them all)."""
    if _line_sender is not None and _line_sender._sock is not None:
        _line_sender._sock.detach()
        _line_sender._sock = None


def log_line(line: str, *, error: bool = False, critical: bool = False) -> None:
    """One line to syslog (identifier ``twinstar``) and stderr, without the logging module; ``critical``: at LOG_CRIT.

    When stderr is the journal (a systemd service), the line goes there only,
    with its priority: through syslog as well it would be in the journal twice.
    """
    global _line_sender
    line = line.replace("\x00", "\\x00")
    if journal_stream():  # under systemd: stderr is the journal already, with the priority, once
        try:
            sys.stderr.write(journal_line(LOG_CRIT if critical else LOG_ERR if error else LOG_INFO, line))
            sys.stderr.flush()
        except (OSError, ValueError, AttributeError):
            pass
        return
    if _line_sender is None:
        _line_sender = SyslogSender(settings.SYSLOG_IDENT)
    _line_sender.send(LOG_CRIT if critical else LOG_ERR if error else LOG_INFO, line)
    try:
        sys.stderr.write(f"twinstar: {'ALARM: ' if critical else 'error: ' if error else ''}{line}\n")
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):
        pass  # no stderr (closed by the caller): syslog has it
