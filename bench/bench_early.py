"""Whole-process ``twinstar takeover`` with duplicate-address detection started early, against a checkout without it.

The takeover: a command step whose start takes STEP_S seconds (standing for
the steps before the address: DAHDI, DRBD), then an ``ip`` step with
``dad_timeout: 0.5``, on a veth pair between two network
namespaces this benchmark makes (``tspg-bench-PID-a``/``b``, 10.213.42.0/24
inside them only; removed at the end). Each run starts from standby (an
untimed release); this tree and ``--before`` (a checkout of an older commit,
its own ``.venv`` or this Python) are timed interleaved. Needs root. Results
go to bench/results-early.md.

usage: sudo .venv/bin/python bench/bench_early.py --before /path/to/old/checkout [--runs N]
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

STEP_S = 0.5
DAD_S = 0.5
ADDRESS = "10.213.42.10/24"


def sh(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True, timeout=30)


def write_config(tmp: Path, name: str, interface: str) -> Path:
    path = tmp / f"{name}.yaml"
    path.write_text(
        f"node: bench\nstate_dir: {tmp / name}\ntakeover:\n"
        f"  - command: {{name: before, start: [/bin/sleep, '{STEP_S}'], stop: [/bin/true]}}\n"
        f"  - ip: {{address: {ADDRESS}, interface: {interface}, dad_timeout: {DAD_S}, arp_count: 1}}\n"
    )
    path.chmod(0o644)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--before", required=True, help="a checkout of the older commit")
    parser.add_argument("--output", default=str(HERE / "results-early.md"))
    args = parser.parse_args()
    a, b = f"tspg-bench-{os.getpid()}-a", f"tspg-bench-{os.getpid()}-b"
    trees = {"this tree": HERE.parent, "before": Path(args.before).resolve()}
    times: dict[str, list[float]] = {name: [] for name in trees}
    created: list[str] = []
    try:
        for ns in (a, b):
            sh("ip", "netns", "add", ns)
            created.append(ns)
        sh("ip", "-n", a, "link", "add", "tspgv0", "type", "veth", "peer", "name", "tspgv1", "netns", b)
        for ns, iface in ((a, "tspgv0"), (b, "tspgv1")):
            sh("ip", "-n", ns, "link", "set", "lo", "up")
            sh("ip", "-n", ns, "link", "set", iface, "up")
        sh("ip", "-n", b, "addr", "add", "10.213.42.2/24", "dev", "tspgv1")
        with tempfile.TemporaryDirectory() as d:
            tmp = Path(d)
            configs = {name: write_config(tmp, name.replace(" ", "-"), "tspgv0") for name in trees}
            cache = tmp / "cache"  # both trees use a compiled configuration, nowhere outside this directory
            cache.mkdir(mode=0o700)
            env = {**os.environ, "TWINSTAR_CACHE_DIR": str(cache)}
            for _ in range(args.runs):
                for name, tree in trees.items():
                    python = tree / ".venv" / "bin" / "python"
                    twinstar = ["ip", "netns", "exec", a, str(python if python.exists() else sys.executable), "-m", "twinstar",
                                "-c", str(configs[name])]
                    subprocess.run([*twinstar, "release"], check=True, capture_output=True, cwd=tree, env=env, timeout=60)
                    times[name].append(run_timed([*twinstar, "takeover"], env=env, cwd=str(tree))[0])
    finally:
        for ns in created:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30)
    rows = [f"| {name} | {statistics.median(v):.1f} | {spread(v)} |" for name, v in times.items()]
    text = (
        "## Early duplicate-address detection\n\n"
        f"Whole-process `twinstar takeover`: a {STEP_S * 1000:.0f} ms step, then the `ip` step with `dad_timeout: {DAD_S}`, "
        f"in a network namespace; median of {args.runs} interleaved runs, ms; before = {args.before}; "
        f"{os.cpu_count()} CPUs, load average (1/5/15 min) {load()} at the end. "
        "Reproduce: `sudo .venv/bin/python bench/bench_early.py --before DIR`.\n\n"
        "| tree | median takeover (ms) | interquartile range |\n|---|---:|---:|\n" + "\n".join(rows) + "\n"
    )
    Path(args.output).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
