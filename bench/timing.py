"""Small helpers the benchmarks share: the spread of a set of timings, the machine's load."""

from __future__ import annotations

import glob
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time


def spread(values: list[float]) -> str:
    """The interquartile range of ``values`` as ``q1–q3`` (ms, one decimal)."""
    if len(values) < 2:
        return "-"
    q1, _, q3 = statistics.quantiles(values, n=4)
    return f"{q1:.1f}–{q3:.1f}"


def load() -> str:
    """The load averages (1, 5 and 15 minutes) as text."""
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def run_timed(argv: list[str], env: dict[str, str] | None = None, cwd: str | None = None) -> tuple[float, float]:
    """Run ``argv`` to its end (output discarded; a failure raises); its wall-clock and CPU time (user + system), in ms.

    On a machine shared with other work the CPU time moves less than the
    wall-clock time: waiting for a core is not counted.
    """
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = (time.perf_counter() - start) * 1000
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise subprocess.CalledProcessError(proc.returncode, argv)
    return wall, (usage.ru_utime + usage.ru_stime) * 1000


#: The head of a benchmark's goal rows; run_all.py gathers every such row into the goals table of results.md.
GOAL_HEADER = "| goal | peer / target | result | spread | load (1 min) |\n|---|---|---|---|---:|"


def goal_table(rows: list[tuple[str, str, str, str, str]]) -> str:
    """A benchmark's goal rows (goal, peer, result, spread, machine load) under :data:`GOAL_HEADER`."""
    return GOAL_HEADER + "\n" + "".join(f"| {' | '.join(row)} |\n" for row in rows)


def goal_rows(section: str) -> list[str]:
    """The rows under :data:`GOAL_HEADER` in a benchmark's results text."""
    _, found, rest = section.partition(GOAL_HEADER + "\n")
    if not found:
        return []
    rows = []
    for line in rest.splitlines():
        if not line.startswith("|"):
            break
        rows.append(line)
    return rows


def load_span(loads: list[float]) -> str:
    """The 1-minute load averages seen during a benchmark, as ``low–high``."""
    return f"{min(loads):.1f}–{max(loads):.1f}" if loads else "-"


def instructions(argv: list[str], env: dict[str, str] | None = None, cwd: str | None = None) -> float | None:
    """Millions of instructions ``argv``'s own process executes (valgrind's callgrind, one run); None without valgrind.

    Deterministic, so the other work on a shared machine does not move it. Only
    the process itself counts: a child it forks (a detached hand-off) is
    followed by valgrind into a log of its own, which is left out.
    """
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        return None
    with tempfile.TemporaryDirectory() as logs:
        subprocess.run([valgrind, "--tool=callgrind", "--callgrind-out-file=/dev/null", f"--log-file={logs}/%p", *argv],
                       env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        for path in glob.glob(f"{logs}/*"):
            with open(path) as f:
                text = f.read()
            if re.search(rf"Parent PID: {os.getpid()}\b", text):
                found = re.search(r"Collected : (\d+)", text)
                return int(found.group(1)) / 1e6 if found else None
    return None
