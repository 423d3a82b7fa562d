"""Whole-process ``twinstar takeover``: three steps one after the other, and the same three as one ``parallel`` group.

Two kinds of step: a no-op (``/bin/true``: what a group costs when its
members have nothing to wait for: the threads and the group's journal lines),
and a start that waits (``/bin/sleep 0.1``, standing for a service that
takes 100 ms to come up, e.g. mariadb and apache2). Sequential and grouped
runs are interleaved; each starts from standby (an untimed release between
runs). Results go to bench/results-parallel.md.

usage: python bench/bench_parallel.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from timing import load, run_timed, spread  # noqa: E402

STEPS = 3
KINDS = {"no-op (`/bin/true`)": ["/bin/true"], "100 ms start (`/bin/sleep 0.1`)": ["/bin/sleep", "0.1"]}


def write_config(tmp: Path, name: str, start: list[str], *, grouped: bool) -> Path:
    steps = [f"{{command: {{name: s{i}, start: [{', '.join(start)}], stop: [/bin/true]}}}}" for i in range(STEPS)]
    body = f"  - parallel: [{', '.join(steps)}]" if grouped else "\n".join(f"  - {s}" for s in steps)
    path = tmp / f"{name}.yaml"
    path.write_text(f"node: bench\nstate_dir: {tmp / name}\ntakeover:\n{body}\n")
    path.chmod(0o644)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--output", default=str(HERE / "results-parallel.md"))
    args = parser.parse_args()
    twinstar = [sys.executable, "-m", "twinstar"]
    rows = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for label, start in KINDS.items():
            tag = start[0].rsplit("/", 1)[1]
            configs = {grouped: write_config(tmp, f"{tag}-{grouped}", start, grouped=grouped) for grouped in (False, True)}
            times: dict[bool, list[float]] = {False: [], True: []}
            for _ in range(args.runs):
                for grouped, config in configs.items():
                    subprocess.run([*twinstar, "-c", str(config), "release"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    times[grouped].append(run_timed([*twinstar, "-c", str(config), "takeover"])[0])
            seq, par = (statistics.median(times[g]) for g in (False, True))
            rows.append(
                f"| {label} | {seq:.1f} ({spread(times[False])}) | {par:.1f} ({spread(times[True])}) | {par - seq:+.1f} |"
            )
    text = (
        "## Concurrent groups\n\n"
        f"Whole-process `twinstar takeover` of {STEPS} command steps, one after the other or as one "
        f"`parallel` group; median (interquartile range) of {args.runs} interleaved runs, ms; "
        f"{os.cpu_count()} CPUs, load average (1/5/15 min) {load()} at the end. "
        "Reproduce: `.venv/bin/python bench/bench_parallel.py`.\n\n"
        "| steps | in sequence | as a parallel group | difference |\n|---|---:|---:|---:|\n" + "\n".join(rows) + "\n"
    )
    Path(args.output).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
