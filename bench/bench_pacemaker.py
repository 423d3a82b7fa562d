"""Failover under Pacemaker: a real two-node cluster moves the simulated units with the group.

Runs the whole ``python -m tests.pacemaker.cluster --json`` process RUNS
times (two nspawn nodes booted, twinstar installed in each, corosync and
Pacemaker started from a preset CIB; then node a loses its power) and reports
median, min and max of the times from the power cut (ms):

* units switched: the units' watchdog (timeout 500 ms, as the demo's) moved them to b's port;
* units READY on b: the simulated xpp driver on b shows them READY;
* registered on b: the astribank agent's start ran there (watchdog armed, DAHDI registered);
* address on b: IPaddr2 added the shared address;
* service on b: the group's systemd service is active (the demo's outage ends here).

Corosync's token (1000 ms) and consensus, not the units, set the pace:
compare with twinstar's own failover in results-demo.md.

Results go to bench/results-pacemaker.md. Needs root.

usage: python bench/bench_pacemaker.py [--runs N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
MEASURES = (
    ("units_switched_ms", "units switched"),
    ("units_ready_ms", "units READY on b"),
    ("registered_ms", "registered on b"),
    ("vip_ms", "address on b"),
    ("service_ms", "service on b"),
)


def one_run() -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "tests.pacemaker.cluster", "--json"], capture_output=True, text=True, timeout=600, cwd=HERE.parent
    )
    try:
        result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise SystemExit(f"bench_pacemaker: the cluster printed no result (exit {proc.returncode}): {proc.stderr[-2000:]}") from None
    return result


def cell(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{statistics.median(values):.0f} ({min(values):.0f}–{max(values):.0f})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--output", default=str(HERE / "results-pacemaker.md"))
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("bench_pacemaker: needs root (containers, namespaces, mounts)", file=sys.stderr)
        return 2
    results = []
    for i in range(args.runs):
        print(f"bench_pacemaker: run {i + 1}/{args.runs}", file=sys.stderr)
        results.append(one_run())
    values = {key: [r[key] for r in results if r.get(key) is not None] for key, _ in MEASURES}
    lines = [
        "## Failover under Pacemaker (`ocf:twinstar:astribank`)",
        "",
        f"Whole `python -m tests.pacemaker.cluster --json` runs, {args.runs}; median (min–max) in ms from the power "
        f"cut of the active node; two nodes (nspawn), corosync knet token 1000 ms, a group astribank + IPaddr2 + "
        f"a systemd service, 2 units, watchdog timeout 500 ms; {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}. Reproduce: `sudo .venv/bin/python bench/bench_pacemaker.py`.",
        "",
        "| scenario | units | " + " | ".join(name for _, name in MEASURES) + " |",
        "|---|---:|" + "---:|" * len(MEASURES),
        "| power-loss | 2 | " + " | ".join(cell(values[k]) for k, _ in MEASURES) + " |",
        "",
        "The units are on b within the watchdog timeout; the group waits for corosync to declare a lost "
        "(token 1000 ms, then consensus) and Pacemaker to schedule the start. twinstar alone: results-demo.md.",
    ]
    text = "\n".join(lines) + "\n"
    Path(args.output).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
