"""The processes holding a mounted filesystem, found through /proc, and how they are stopped.

The drbd step's undo uses it when an unmount is busy: SIGTERM, then SIGKILL
for those still there after the grace period, each reported. Signals go
through pidfds, so a pid reused meanwhile is never signalled.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import time
from dataclasses import dataclass

#: How long to wait for the processes killed with SIGKILL to be gone (seconds).
KILL_WAIT = 5.0


@dataclass(frozen=True)
class Holder:
    pid: int
    comm: str


def _majmin_hex(text: str) -> tuple[int, int] | None:
    major, _, minor = text.partition(":")
    try:
        return int(major, 16), int(minor, 16)
    except ValueError:
        return None


def _holds(base: str, dev: int) -> bool:
    for link in ("cwd", "root", "exe"):
        try:
            if os.stat(f"{base}/{link}").st_dev == dev:
                return True
        except OSError:
            pass
    try:
        fds = os.listdir(f"{base}/fd")
    except OSError:
        fds = []
    for fd in fds:
        try:
            if os.stat(f"{base}/fd/{fd}").st_dev == dev:
                return True
        except OSError:
            pass
    want = (os.major(dev), os.minor(dev))
    try:
        with open(f"{base}/maps") as f:
            for line in f:
                fields = line.split(maxsplit=5)
                if len(fields) >= 5 and fields[4] != "0" and _majmin_hex(fields[3]) == want:
                    return True
    except OSError:
        pass
    return False


def find_holders(dev: int, *, proc: str = "/proc") -> list[Holder]:
    """Processes with a cwd, root, executable, open file or mapping on filesystem ``dev``."""
    me = os.getpid()
    holders = []
    for entry in os.scandir(proc):
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        base = f"{proc}/{entry.name}"
        if _holds(base, dev):
            try:
                with open(f"{base}/comm") as f:
                    comm = f.read().strip()
            except OSError:
                comm = "?"
            holders.append(Holder(int(entry.name), comm))
    return holders


def _wait_exited(pidfds: dict[int, int], timeout: float) -> set[int]:
    """Wait up to ``timeout`` for the processes behind ``pidfds`` (pid -> fd); the pids still running."""
    poller = select.poll()
    for fd in pidfds.values():
        poller.register(fd, select.POLLIN)
    running = set(pidfds)
    by_fd = {fd: pid for pid, fd in pidfds.items()}
    deadline = time.monotonic() + timeout
    while running:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        for fd, _ in poller.poll(left * 1000):
            poller.unregister(fd)
            running.discard(by_fd[fd])
    return running


def stop_holders(dev: int, *, grace: float, log: logging.Logger, who: str, what: str) -> None:
    """SIGTERM every process holding filesystem ``dev`` (``what``, for the log), SIGKILL those left after ``grace`` s."""
    pidfds: dict[int, int] = {}
    comms: dict[int, str] = {}
    try:
        for holder in find_holders(dev):
            try:
                fd = os.pidfd_open(holder.pid)
            except ProcessLookupError:
                continue
            pidfds[holder.pid], comms[holder.pid] = fd, holder.comm
            log.warning("%s: terminating pid %d (%s) holding %s", who, holder.pid, holder.comm, what)
            _signal(fd, signal.SIGTERM)
        survivors = _wait_exited(pidfds, grace)
        for pid in sorted(survivors):
            log.warning("%s: killing pid %d (%s), still holding %s after SIGTERM", who, pid, comms[pid], what)
            _signal(pidfds[pid], signal.SIGKILL)
        _wait_exited({pid: pidfds[pid] for pid in survivors}, KILL_WAIT)
    finally:
        for fd in pidfds.values():
            os.close(fd)


def _signal(pidfd: int, sig: int) -> None:
    try:
        signal.pidfd_send_signal(pidfd, sig)
    except ProcessLookupError:
        pass
