"""Whole-process ``twinstar takeover`` with 1, 10 and 100 no-op command steps.

Each run starts from standby (a release, untimed, runs between runs) and
times the whole ``twinstar takeover`` process. The per-step cost is the
slope between 1 and 100 steps; the runner's overhead per step is that
slope minus what running the no-op program itself costs (measured here
too); the fixed cost is the 1-step time minus one step. A 1-step takeover
whose journal is at its cap (``journal: {max_mib: 1}``, filled to just below
it before each run, so the run rotates it) is timed interleaved with one
whose journal is small: the cap must not make a takeover slower. (The udev
hook never reads the journal.) Results go to bench/results-takeover.md.

usage: python bench/bench_takeover.py [--runs N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from timing import load, run_timed, spread  # noqa: E402

TRUE = "/bin/true"
SIZES = (1, 10, 100)


def write_config(tmp: Path, n: int, *, state: str = "state", extra: str = "") -> Path:
    lines = [f"node: bench\nstate_dir: {tmp / state}\n{extra}takeover:"]
    for i in range(n):
        lines.append(f"  - command: {{name: noop{i}, start: [{TRUE}], stop: [{TRUE}]}}")
    path = tmp / f"twinstar-{n}-{state}.yaml"
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o644)
    return path


def run(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def program_cost(runs: int) -> float:
    """Median time to run the no-op program once (fork, exec, wait)."""
    times = [run([TRUE]) for _ in range(runs)]
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--output", default=str(HERE / "results-takeover.md"))
    args = parser.parse_args()
    twinstar = [sys.executable, "-m", "twinstar"]
    medians: dict[int, float] = {}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for n in SIZES:
            config = write_config(tmp, n)
            times = []
            for _ in range(args.runs):
                subprocess.run([*twinstar, "-c", str(config), "release"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                times.append(run([*twinstar, "-c", str(config), "takeover"]))
            medians[n] = statistics.median(times)
        capped = write_config(tmp, 1, state="capped", extra="journal: {max_mib: 1}\n")
        journal = tmp / "capped" / "journal.jsonl"
        filler = json.dumps({"ts": 0.0, "event": "filler", "detail": "x" * 200}).encode() + b"\n"
        cap_times: dict[str, list[float]] = {"small": [], "capped": []}
        cap_cpu: dict[str, list[float]] = {"small": [], "capped": []}
        for _ in range(args.runs):
            for name, config in (("small", write_config(tmp, 1)), ("capped", capped)):
                subprocess.run([*twinstar, "-c", str(config), "release"], check=True, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
                if name == "capped":
                    journal.write_bytes(filler * ((1 << 20) // len(filler)))
                    journal.chmod(0o600)
                else:
                    (tmp / "state" / "journal.jsonl").unlink(missing_ok=True)
                wall, used = run_timed([*twinstar, "-c", str(config), "takeover"])
                cap_times[name].append(wall)
                cap_cpu[name].append(used)
            if not (tmp / "capped" / "journal.jsonl.1").exists():
                raise SystemExit("the capped journal was not rotated")
    own = program_cost(50)
    per_step = (medians[100] - medians[1]) / 99
    overhead = per_step - own
    fixed = medians[1] - per_step
    rows = [
        "| steps | median takeover (ms) |",
        "|---:|---:|",
        *(f"| {n} | {medians[n] * 1000:.1f} |" for n in SIZES),
        "",
        "| measure | value | target |",
        "|---|---:|---:|",
        f"| cost per step (slope 1→100) | {per_step * 1000:.2f} ms | |",
        f"| no-op program's own time | {own * 1000:.2f} ms | |",
        f"| runner overhead per step | {overhead * 1000:.2f} ms | < 5 ms |",
        f"| fixed cost (1-step run minus one step) | {fixed * 1000:.1f} ms | < 150 ms |",
        "",
        "| journal (1 step, interleaved) | median takeover (ms) | interquartile range | CPU time, median (ms) "
        "| interquartile range |",
        "|---|---:|---:|---:|---:|",
        *(f"| {label} | {statistics.median(cap_times[name]):.1f} | {spread(cap_times[name])} "
          f"| {statistics.median(cap_cpu[name]):.1f} | {spread(cap_cpu[name])} |"
          for name, label in (("small", "small (a few lines)"), ("capped", "at its cap (1 MiB), rotated by the run"))),
    ]
    text = (
        "## Takeover engine\n\n"
        f"Whole-process `twinstar takeover`, median of {args.runs} runs per size, "
        f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, load average (1/5/15 min) {load()} at the end. "
        "Reproduce: `.venv/bin/python bench/bench_takeover.py`.\n\n" + "\n".join(rows) + "\n"
    )
    Path(args.output).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
