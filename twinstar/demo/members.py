"""Every process of one demo run, found whenever the run is stopped.

A Ctrl-C can arrive at any moment, for instance while a takeover's
``command`` step forks the PBX, which then detaches into its own session. A
list of PIDs read a moment earlier misses such a process, so the demo does
not rely on pidfiles or lists:

* **cgroup v2** (preferred): before it starts anything, the demo process
  moves itself into a cgroup of its own, ``tsdemo-PID`` (or the run's next
  free name), created below the cgroup it runs in (on this machine's unified hierarchy, found in
  ``/proc/self/mountinfo``). Every process started afterwards, through
  ``nsenter``, ``setsid`` or a detached handoff, is born in it and stays
  there. To end them the demo process moves back to its own cgroup and writes
  ``cgroup.kill`` (Linux 5.14 and later; on older kernels every PID in
  ``cgroup.procs`` is killed until it is empty), which kills forks in
  flight too; the directory is removed afterwards.
* **Namespace and ancestry scan** (fallback, when no cgroup v2 hierarchy is
  mounted or it is not writable: a cgroup v1-only machine, a container with a
  read-only ``/sys/fs/cgroup``): every process whose network namespace is one
  of the demo's (``/proc/PID/ns/net`` compared with the files in
  ``/run/netns``) or that descends from the demo process is killed, and the
  scan repeats until it finds none. Processes of the demo that detach always
  run inside a demo namespace, so none escapes both tests.

Either way only processes the demo started are ended.
"""

from __future__ import annotations

import errno
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from twinstar import mounts
from twinstar.demo.processes import sigkill
from twinstar.demo.topology import NETNS_DIR
from twinstar.errors import TwinstarError

log = logging.getLogger("twinstar.demo.members")

#: How long the processes may take to disappear after SIGKILL (seconds).
WAIT = 10.0


def cgroup2_mounts() -> list[str]:
    """Mount points of the cgroup v2 hierarchy showing its root, from /proc/self/mountinfo."""
    return [m.target for m in mounts.read() if m.fstype == "cgroup2" and m.root == "/"]


def named_v1_mounts() -> list[str]:
    """Mount points of named cgroup v1 hierarchies without controllers (``name=systemd`` on a hybrid machine)."""
    return [m.target for m in mounts.read() if m.fstype == "cgroup" and "name=" in m.options and m.root == "/"]


def cgroup_taken(name: str) -> bool:
    """Whether a cgroup ``name`` exists beside where :meth:`DemoProcesses.enter` would make it (an earlier
    demo's, left by a run killed before its cleanup), in the v2 hierarchy or a named v1 one."""
    path = own_cgroup()
    if path is None:
        return False
    return any(os.path.isdir(os.path.join(m, path.lstrip("/"), name)) for m in (*cgroup2_mounts(), *named_v1_mounts()))


def _subtree(top: str) -> list[str]:
    """``top`` and every directory below it, deepest first."""
    return [d for d, _dirs, _files in os.walk(top, topdown=False)] if os.path.isdir(top) else [top]


def own_cgroup(pid: int | str = "self") -> str | None:
    """The cgroup v2 path of ``pid`` (``0::/path`` in /proc/PID/cgroup), or None."""
    try:
        with open(f"/proc/{pid}/cgroup") as f:
            for line in f:
                if line.startswith("0::"):
                    return line[3:].rstrip("\n")
    except OSError:
        return None
    return None


def _write(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def _pids(group: str) -> list[int]:
    try:
        with open(os.path.join(group, "cgroup.procs")) as f:
            return [int(p) for p in f.read().split()]
    except FileNotFoundError:
        return []


def _kill_until_gone(find: Callable[[], list[int]]) -> None:
    """SIGKILL what ``find`` lists until it lists nothing; TwinstarError after :data:`WAIT` seconds."""
    deadline = time.monotonic() + WAIT
    while left := find():
        if time.monotonic() > deadline:
            raise TwinstarError(f"processes {', '.join(map(str, left))} of the demo did not end after SIGKILL")
        sigkill(left)
        time.sleep(0.005)


@dataclass
class DemoProcesses:
    """The processes of one demo run: a cgroup of its own, or else its namespaces and descendants."""

    namespaces: tuple[str, ...]
    home: str | None = None  # the cgroup directory the demo process came from
    group: str | None = None  # the demo's cgroup directory, while the demo process is in it or it exists
    kept: list[str] = field(default_factory=list)  # --keep: cgroup directories left (deepest first)

    @classmethod
    def enter(cls, name: str, namespaces: Sequence[str]) -> DemoProcesses:
        """Move the demo process into a new cgroup ``name``; fall back to scanning when that cannot be done."""
        self = cls(tuple(namespaces))
        path = own_cgroup()
        if path is None:
            return self
        for mount in cgroup2_mounts():
            home = os.path.join(mount, path.lstrip("/"))
            if os.getpid() not in _pids(home):
                continue  # another view of the hierarchy (a cgroup namespace's)
            group = os.path.join(home, name)
            try:
                os.makedirs(group, exist_ok=True)
                _write(os.path.join(group, "cgroup.procs"), str(os.getpid()))
            except OSError as exc:
                log.info("no cgroup for the demo (%s: %s); processes are found by namespace", group, exc.strerror)
                try:
                    os.rmdir(group)
                except OSError:
                    pass
                break
            self.home, self.group = home, group
            break
        return self

    @property
    def method(self) -> str:
        return f"cgroup {self.group}" if self.group is not None else "namespace scan"

    def kill_all(self) -> None:
        """SIGKILL every process of the demo and wait until all are gone."""
        if self.group is not None and os.path.isdir(self.group):
            self._leave()
            self._kill_group(self.group)
        else:
            _kill_until_gone(self.scan)

    def remove(self) -> None:
        """Kill every process of the demo, then remove its cgroup."""
        self.kill_all()
        if self.group is None:
            return
        deadline = time.monotonic() + WAIT
        # A container's systemd made cgroups below the demo's (and nspawn the same path in
        # the named v1 hierarchy of a hybrid machine): all go, deepest first.
        for tree in (self.group, *self._mirrors()):
            for directory in _subtree(tree):
                while True:
                    try:
                        os.rmdir(directory)
                        break
                    except FileNotFoundError:
                        break
                    except OSError as exc:
                        if exc.errno != errno.EBUSY or time.monotonic() > deadline:
                            raise TwinstarError(f"cannot remove the demo's cgroup {directory}: {exc.strerror}") from exc
                        time.sleep(0.01)
        self.group = None

    def _mirrors(self) -> list[str]:
        """The demo's cgroup path in the named v1 hierarchies (``name=systemd``), where they exist."""
        assert self.group is not None and self.home is not None
        relative = os.path.relpath(self.group, next((m for m in cgroup2_mounts() if self.group.startswith(m + "/")), "/"))
        return [p for p in (os.path.join(m, relative) for m in named_v1_mounts()) if os.path.isdir(p)]

    def release(self) -> None:
        """``--keep``: the demo process and what is left of the demo go back to the original cgroup."""
        if self.group is None or self.home is None:
            return
        self._leave()
        deadline = time.monotonic() + WAIT
        while (pids := _pids(self.group)) and time.monotonic() < deadline:
            for pid in pids:
                try:
                    _write(os.path.join(self.home, "cgroup.procs"), str(pid))
                except ProcessLookupError:
                    pass
        try:
            os.rmdir(self.group)
        except OSError:
            # A container's systemd keeps its processes in cgroups below: they stay, and so does the tree.
            self.kept = [d for tree in (self.group, *self._mirrors()) for d in _subtree(tree)]
        self.group = None

    # -- cgroup -----------------------------------------------------------------------------------

    def _leave(self) -> None:
        """Move the demo process back to its own cgroup (then cgroup.kill spares it)."""
        assert self.home is not None and self.group is not None
        if os.getpid() in _pids(self.group):
            try:
                _write(os.path.join(self.home, "cgroup.procs"), str(os.getpid()))
            except OSError as exc:  # the others are then killed one by one
                log.warning("cannot move back to %s: %s", self.home, exc.strerror)

    def _kill_group(self, group: str) -> None:
        me = os.getpid()
        kill_file = os.path.join(group, "cgroup.kill")
        if me not in _pids(group) and os.path.exists(kill_file):
            _write(kill_file, "1")
        _kill_until_gone(lambda: [p for p in _pids(group) if p != me])

    # -- scan ----------------------------------------------------------------------------------------

    def scan(self) -> list[int]:
        """Live processes (not zombies) in the demo's namespaces or descending from the demo process."""
        namespaces = set()
        for ns in self.namespaces:
            try:
                st = os.stat(os.path.join(NETNS_DIR, ns))
            except OSError:
                continue
            namespaces.add((st.st_dev, st.st_ino))
        me = os.getpid()
        parents: dict[int, int] = {}
        found = set()
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == me:
                continue
            pid = int(entry)
            try:
                with open(f"/proc/{pid}/stat", "rb") as f:
                    stat = f.read()
                st = os.stat(f"/proc/{pid}/ns/net")
            except OSError:
                continue  # gone, or a kernel thread
            fields = stat[stat.rindex(b")") + 2 :].split()
            if fields[0] == b"Z":
                continue
            parents[pid] = int(fields[1])
            if (st.st_dev, st.st_ino) in namespaces:
                found.add(pid)
        for pid in parents:
            seen = pid
            while seen in parents and seen != me:
                seen = parents[seen]
            if seen == me:
                found.add(pid)
        return sorted(found)
