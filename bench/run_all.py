"""Run every benchmark and collect their tables in bench/results.md.

Each benchmark is its own script writing ``bench/results-<name>.md``; this
runs them one after another (never in parallel: they time whole processes)
and puts their tables together.

usage: sudo .venv/bin/python bench/run_all.py [--quick] [--before DIR [--before-label TEXT]]

``--before`` names a checkout of an older commit: the hook and the takeover
are then also timed side by side with it (bench_compare.py).
"""

from __future__ import annotations

import argparse
import datetime
import platform
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from timing import GOAL_HEADER, goal_rows  # noqa: E402

#: (script, results file, extra arguments for --quick)
BENCHMARKS: tuple[tuple[str, str, list[str]], ...] = (
    ("bench_demo.py", "results-demo.md", ["--runs", "2"]),
    ("bench_keepalived.py", "results-keepalived.md", ["--runs", "2"]),
    ("bench_defaults.py", "results-defaults.md", ["--runs", "3", "--demo-runs", "2"]),
    ("bench_daemon.py", "results-daemon.md", ["--runs", "3"]),
    ("bench_soak.py", "results-soak.md", ["--quick"]),
    ("bench_hook.py", "results-hook.md", []),
    ("bench_takeover.py", "results-takeover.md", ["--runs", "3"]),
    ("bench_parallel.py", "results-parallel.md", ["--runs", "3"]),
    ("bench_status.py", "results-status.md", ["--runs", "5"]),
    ("bench_pacemaker.py", "results-pacemaker.md", ["--runs", "1"]),
    ("bench_systemd.py", "results-systemd.md", ["--runs", "3"]),
    ("bench_compare.py", "results-compare.md", ["--runs", "5"]),
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs (a smoke test, not results)")
    parser.add_argument("--output", default=str(HERE / "results.md"))
    parser.add_argument("--before", help="checkout of an older commit to compare the hook and the takeover with")
    parser.add_argument("--before-label", default="", help="what that checkout is (e.g. its commit)")
    args = parser.parse_args(argv)
    sections = []
    failed = []
    for script, results, quick in BENCHMARKS:
        path = HERE / script
        if not path.exists():
            sections.append(f"## {script}\n\nnot present in this tree.\n")
            continue
        extra = []
        if script == "bench_compare.py":
            if not args.before:
                sections.append("## Before and after\n\nnot run: give `--before DIR` (a checkout of the older commit).\n")
                continue
            extra = ["--before", args.before, "--label", args.before_label or args.before]
        print(f"run_all: {script}", file=sys.stderr)
        proc = subprocess.run([sys.executable, str(path), *extra, *(quick if args.quick else [])], cwd=HERE.parent)
        table = HERE / results
        if proc.returncode != 0 or not table.exists():
            failed.append(script)
            sections.append(f"## {script}\n\nfailed with exit status {proc.returncode}.\n")
            continue
        sections.append(table.read_text())
    goals = [row for section in sections for row in goal_rows(section)]
    if goals:
        sections.insert(0, "## Goals\n\n" + GOAL_HEADER + "\n" + "\n".join(goals) + "\n")
    header = (
        "# Benchmarks\n\n"
        f"Measured {datetime.date.today().isoformat()} on {platform.machine()}, Linux {platform.release()}, "
        f"Python {platform.python_version()}. Reproduce all: `sudo .venv/bin/python bench/run_all.py`; "
        "each section names its own command.\n"
    )
    Path(args.output).write_text(header + "\n" + "\n".join(s.rstrip() + "\n" for s in sections))
    print(f"run_all: wrote {args.output}" + (f"; failed: {', '.join(failed)}" if failed else ""), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
