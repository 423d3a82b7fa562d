"""What the demo may leave on the machine: namespaces, mounts, loop devices, processes, cgroups."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass

from twinstar.demo.members import cgroup2_mounts

PREFIX = "tsdemo-"


@dataclass(frozen=True)
class Snapshot:
    namespaces: frozenset[str]
    mounts: frozenset[str]
    loops: frozenset[str]
    processes: frozenset[tuple[int, str]]
    cgroups: frozenset[str]

    def demo_parts(self, run: str | None = None) -> list[str]:
        """Everything in this snapshot that belongs to a demo run; to the run ``run`` (``tsdemo-<pid>``) when given.

        Another demo run on the machine at the same time (its own ``tsdemo-<pid>``)
        is then not blamed on this one.
        """
        if run is None:
            out = [f"netns {n}" for n in self.namespaces if n.startswith(PREFIX)]
            out += [f"mount {m}" for m in self.mounts if f"/{PREFIX}" in m]
            out += [f"loop {x}" for x in self.loops if f"/{PREFIX}" in x]
            out += [f"process {pid} {cmd}" for pid, cmd in self.processes if "twinstar.demo" in cmd or PREFIX in cmd]
            out += [f"cgroup {c}" for c in self.cgroups if os.path.basename(c).startswith(PREFIX)]
            return sorted(out)
        out = [f"netns {n}" for n in self.namespaces if n == run or n.startswith(f"{run}-")]
        out += [f"mount {m}" for m in self.mounts if f"/{run}/" in m or m.endswith(f"/{run}")]
        out += [f"loop {x}" for x in self.loops if f"/{run}/" in x]
        out += [f"process {pid} {cmd}" for pid, cmd in self.processes if f"/{run}/" in cmd or f"{run}-" in cmd]
        out += [f"cgroup {c}" for c in self.cgroups if os.path.basename(c) == run or os.path.basename(c).startswith(f"{run}-")]
        return sorted(out)


def snapshot() -> Snapshot:
    ns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    with open("/proc/self/mountinfo") as f:
        mounts = frozenset(line.split(" ", 5)[4] for line in f)
    loops = subprocess.run(["losetup", "-a"], capture_output=True, text=True, check=True).stdout
    procs = set()
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        if cmd:
            procs.add((int(pid), cmd))
    return Snapshot(
        namespaces=frozenset(line.split()[0] for line in ns.splitlines() if line.strip()),
        mounts=mounts,
        loops=frozenset(line for line in loops.splitlines() if line.strip()),
        processes=frozenset(procs),
        cgroups=frozenset(cgroups()),
    )


def cgroups() -> list[str]:
    """Every directory of the cgroup v2 hierarchy."""
    out = []
    for mount in cgroup2_mounts():
        out += [directory for directory, _dirs, _files in os.walk(mount)]
    return out


def new_demo_parts(before: Snapshot, after: Snapshot, run: str | None = None) -> list[str]:
    """Demo resources present after the run that were not there before it (of the run ``run`` only, when given)."""
    return sorted(set(after.demo_parts(run)) - set(before.demo_parts(run)))
