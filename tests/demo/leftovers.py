"""What the demo may leave on the machine: namespaces, mounts, loop devices, processes, cgroups."""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass

from twinstar.demo.members import cgroup2_mounts, named_v1_mounts

PREFIX = "tsdemo-"


@dataclass(frozen=True)
class Snapshot:
    namespaces: frozenset[str]
    mounts: frozenset[str]
    loops: frozenset[str]
    processes: frozenset[tuple[int, str]]
    cgroups: frozenset[str]

    def demo_parts(self) -> list[str]:
        """Everything in this snapshot that belongs to a demo run."""
        out = [f"netns {n}" for n in self.namespaces if n.startswith(PREFIX)]
        out += [f"mount {m}" for m in self.mounts if f"/{PREFIX}" in m]
        out += [f"loop {x}" for x in self.loops if f"/{PREFIX}" in x]
        out += [f"process {pid} {cmd}" for pid, cmd in self.processes if "twinstar.demo" in cmd or PREFIX in cmd]
        out += [f"cgroup {c}" for c in self.cgroups if os.path.basename(c).startswith(PREFIX)]
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
    """Every directory of the cgroup v2 hierarchy and of the named v1 ones (nspawn makes the demo's there)."""
    out = []
    for mount in [*cgroup2_mounts(), *named_v1_mounts()]:
        out += [directory for directory, _dirs, _files in os.walk(mount)]
    return out


def new_demo_parts(before: Snapshot, after: Snapshot, run: str | int | None = None) -> list[str]:
    """Demo resources present after the run that were not there before it.

    ``run`` (the run's ``tsdemo-<pid>`` prefix, or its pid) keeps only that
    run's parts: other demos may run on the machine at the same time.
    """
    new = set(after.demo_parts()) - set(before.demo_parts())
    if run is not None:
        prefix = f"{PREFIX}{run}" if isinstance(run, int) else run
        new = {p for p in new if re.search(re.escape(prefix) + r"(?![0-9])", p)}
    return sorted(new)
