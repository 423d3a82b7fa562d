"""Watching both servers for the two things that must never be doubled.

The shared address (netlink events from ``ip -n NS monitor address``, one
monitor per server) and the replicated partition (each server's mount table,
read every few milliseconds) are recorded in the event log as they change,
so the report can prove that no moment had both servers holding the address
or both having the partition mounted.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence

from twinstar.demo import events
from twinstar.engine.proc import clean_env
from twinstar.errors import BadInputError
from twinstar.mounts import MOUNTINFO, mount_points


class AddressWatch:
    """Records additions and removals of ``address`` on one host's interfaces."""

    def __init__(self, netns: str, host: str, address: str, log: str) -> None:
        self.host = host
        self.address = address
        self.log = log
        self.proc = subprocess.Popen(
            ["ip", "-n", netns, "-o", "monitor", "address"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=clean_env(),
            start_new_session=True,
        )
        self.thread = threading.Thread(target=self._read, name=f"watch-ip-{host}", daemon=True)
        self.thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        needle = f" inet {self.address}/".encode()
        for line in self.proc.stdout:
            if needle not in line:
                continue
            gone = line.startswith(b"Deleted")
            events.emit(self.log, "address removed" if gone else "address added", self.host, address=self.address)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait()
        self.thread.join(timeout=2)


class MountWatch:
    """Records when each server's mount point gains or loses a mount.

    ``watched`` maps each server to the mount table it is seen in (this
    process's, or a container's ``/proc/PID/mountinfo``) and its mount point;
    a table that cannot be read (the container is gone) has nothing mounted.
    """

    def __init__(self, watched: Mapping[str, tuple[str, str]], log: str, *, interval: float = 0.005) -> None:
        self.watched = dict(watched)
        self.log = log
        self.interval = interval
        self._stop = threading.Event()
        self.seen: dict[str, bool] = {host: False for host in self.watched}
        self.thread = threading.Thread(target=self._run, name="watch-mounts", daemon=True)
        self.thread.start()

    def follow(self, watched: Mapping[str, tuple[str, str]]) -> None:
        """Watch these servers' tables from now on (a container that booted again has a new PID 1)."""
        self.watched = {**self.watched, **watched}  # one assignment: the watching thread sees old or new

    def _mounted(self) -> set[str]:
        watched = self.watched
        tables: dict[str, set[str]] = {}
        for table, _ in watched.values():
            if table not in tables:
                try:
                    tables[table] = mount_points(table)
                except BadInputError:
                    tables[table] = set()
        return {host for host, (table, path) in watched.items() if path in tables[table]}

    def _run(self) -> None:
        while not self._stop.is_set():
            now = self._mounted()
            for host, was in self.seen.items():
                if (host in now) != was:
                    self.seen[host] = not was
                    events.emit(self.log, "partition mounted" if not was else "partition unmounted", host)
            time.sleep(self.interval)

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(timeout=2)


def overlaps(records: Sequence[dict[str, object]], on: str, off: str) -> list[tuple[float, float]]:
    """Intervals during which more than one host was in state ``on`` (pure)."""
    holding: set[str] = set()
    start: float | None = None
    out: list[tuple[float, float]] = []
    for r in sorted(records, key=lambda r: float(r["t"])):  # type: ignore[arg-type]
        if r["event"] == on:
            holding.add(str(r["host"]))
        elif r["event"] == off:
            holding.discard(str(r["host"]))
        else:
            continue
        t = float(r["t"])  # type: ignore[arg-type]
        if len(holding) > 1 and start is None:
            start = t
        elif len(holding) <= 1 and start is not None:
            out.append((start, t))
            start = None
    if start is not None:
        out.append((start, float("inf")))
    return out


def own_mounts(mountpoints: Mapping[str, str]) -> dict[str, tuple[str, str]]:
    """:class:`MountWatch`'s input for servers whose mounts are in this process's table (host -> path)."""
    return {host: (MOUNTINFO, os.path.realpath(path)) for host, path in mountpoints.items()}
