"""The systemd notify protocol (sd_notify(3)) without libsystemd.

A notification is one datagram of ``KEY=VALUE`` lines sent to the unix socket
named by ``$NOTIFY_SOCKET`` (a path, or ``@name`` for the abstract namespace).
``$WATCHDOG_USEC`` asks for ``WATCHDOG=1`` pings; ``$WATCHDOG_PID``, when set,
says which process the watchdog is meant for. Without ``$NOTIFY_SOCKET``
every call does nothing, so the daemon runs the same way outside systemd.
Sending never raises: a lost notification must not stop the daemon.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import KW_ONLY, dataclass, field

log = logging.getLogger("twinstar.notify")

#: Environment variables of the protocol; the daemon removes them so the
#: programs it starts do not talk to systemd in its name.
ENV_VARS = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")


def socket_address(value: str) -> str | None:
    """The address to send to for a ``$NOTIFY_SOCKET`` value, or None when unusable."""
    if value.startswith("@") and len(value) > 1:
        return "\0" + value[1:]
    if value.startswith("/"):
        return value
    return None


def watchdog_interval(environ: Mapping[str, str], pid: int) -> float | None:
    """Seconds between ``WATCHDOG=1`` pings: half of ``$WATCHDOG_USEC``, or None.

    None when the watchdog is not enabled, the value is not a positive
    integer, or ``$WATCHDOG_PID`` names another process.
    """
    raw = environ.get("WATCHDOG_USEC", "")
    if not raw:
        return None
    owner = environ.get("WATCHDOG_PID", "")
    if owner:
        if not owner.isdigit() or int(owner) != pid:
            return None
    if not raw.isdigit() or int(raw) <= 0:
        log.warning("ignoring WATCHDOG_USEC=%r: not a positive number of microseconds", raw)
        return None
    return int(raw) / 1_000_000 / 2


@dataclass
class Notifier:
    """Sends notifications to systemd; every method is a no-op without a socket."""

    _: KW_ONLY
    address: str | None = None
    watchdog: float | None = None
    _sock: socket.socket | None = field(default=None, init=False, repr=False)
    _failed: bool = field(default=False, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None, *, pid: int | None = None) -> Notifier:
        env = os.environ if environ is None else environ
        raw = env.get("NOTIFY_SOCKET", "")
        address = socket_address(raw) if raw else None
        if raw and address is None:
            log.warning("ignoring NOTIFY_SOCKET=%r: neither an absolute path nor @abstract", raw)
        interval = watchdog_interval(env, os.getpid() if pid is None else pid) if address else None
        return cls(address=address, watchdog=interval)

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def send(self, **fields: str | int) -> bool:
        """Send one notification (``send(READY=1, STATUS="...")``); True when sent."""
        if self.address is None:
            return False
        text = "\n".join(f"{k}={_one_line(str(v))}" for k, v in fields.items())
        with self._lock:
            try:
                if self._sock is None:
                    self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                self._sock.sendto(text.encode("utf-8", "replace"), self.address)
            except OSError as exc:
                if not self._failed:  # say it once, not at every ping
                    log.warning("cannot notify systemd at %r: %s", self.address.replace("\0", "@"), exc.strerror or exc)
                    self._failed = True
                return False
        self._failed = False
        return True

    def ready(self, status: str) -> bool:
        return self.send(READY=1, STATUS=status, MAINPID=os.getpid())

    def status(self, status: str) -> bool:
        return self.send(STATUS=status)

    def reloading(self) -> bool:
        """``RELOADING=1`` with the monotonic clock's time, as sd_notify(3) asks of a reload."""
        return self.send(RELOADING=1, MONOTONIC_USEC=time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000)

    def reloaded(self, status: str) -> bool:
        return self.send(READY=1, STATUS=status)

    def stopping(self, status: str = "stopping") -> bool:
        return self.send(STOPPING=1, STATUS=status)

    def ping(self) -> bool:
        """One ``WATCHDOG=1`` (only when the watchdog is enabled for this process)."""
        if self.watchdog is None:
            return False
        return self.send(WATCHDOG=1)

    @contextmanager
    def keepalive(self) -> Iterator[None]:
        """Keep pinging the watchdog from a thread while a long operation runs.

        A takeover may legitimately take minutes (DRBD, service starts); each of
        its steps is bounded by its own timeout, so the pings stop when it ends.
        """
        if self.watchdog is None:
            yield
            return
        done = threading.Event()

        def pinger() -> None:
            while not done.wait(self.watchdog):
                self.ping()

        thread = threading.Thread(target=pinger, name="twinstar-watchdog", daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join()

    def close(self) -> None:
        with self._lock:
            if self._sock is not None:
                self._sock.close()
                self._sock = None


def _one_line(value: str) -> str:
    """A field value may not span lines: the protocol separates fields by newlines."""
    return value.replace("\n", " ").replace("\r", " ")
