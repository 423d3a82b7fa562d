"""What the demo may leave on the machine: namespaces, mounts, loop devices, processes."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass

PREFIX = "tsdemo-"


@dataclass(frozen=True)
class Snapshot:
    namespaces: frozenset[str]
    mounts: frozenset[str]
    loops: frozenset[str]
    processes: frozenset[tuple[int, str]]

    def demo_parts(self) -> list[str]:
        """Everything in this snapshot that belongs to a demo run."""
        out = [f"netns {n}" for n in self.namespaces if n.startswith(PREFIX)]
        out += [f"mount {m}" for m in self.mounts if f"/{PREFIX}" in m]
        out += [f"loop {x}" for x in self.loops if f"/{PREFIX}" in x]
        out += [f"process {pid} {cmd}" for pid, cmd in self.processes if "twinstar.demo" in cmd or PREFIX in cmd]
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
    )


def new_demo_parts(before: Snapshot, after: Snapshot) -> list[str]:
    """Demo resources present after the run that were not there before it."""
    return sorted(set(after.demo_parts()) - set(before.demo_parts()))
