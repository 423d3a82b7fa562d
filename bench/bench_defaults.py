"""A takeover with the documented defaults against one with the demo's configuration, interleaved.

Where the two configurations differ is the ``ip`` step: the documented
defaults (docs/steps.md: ``arp_count: 5``, ``arp_interval: 1.0``,
``dad_timeout: 0.5``) against the demo's values (``arp_count: 3``,
``arp_interval: 0.2``, ``dad_timeout: 0.03``). Each run is a whole
``twinstar takeover`` process taking 10.213.43.200/24 on a veth in namespace
``tsbp-dc-a`` (its peer, in ``tsbp-dc-b``, gives the carrier and answers for
nobody, so duplicate-address detection listens its full time); an untimed
release between runs. The goal: the defaults within 100 ms of the demo's.

Namespaces are removed at the end, on failure and on Ctrl-C. Results go to
bench/results-defaults.md. Needs root.

usage: sudo .venv/bin/python bench/bench_defaults.py [--runs N]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from netns import veth_pair  # noqa: E402
from timing import goal_table, load, load_span, run_timed, spread  # noqa: E402

NODE, PEER = "tsbp-dc-a", "tsbp-dc-b"
ADDRESS = "10.213.43.200/24"
GOAL_MS = 100
DEFAULTS, DEMO = "documented defaults", "the demo's"
#: The ip step of each configuration; the defaults leave everything but the required keys out.
CONFIGS: dict[str, dict[str, object]] = {
    DEFAULTS: {"address": ADDRESS, "interface": "eth0"},
    DEMO: {"address": ADDRESS, "interface": "eth0", "arp_count": 3, "arp_interval": 0.2, "dad_timeout": 0.03},
}


def write_config(tmp: Path, key: int, step: dict[str, object]) -> Path:
    path = tmp / f"twinstar-{key}.yaml"
    config = {"node": "bench", "state_dir": str(tmp / f"state-{key}"), "takeover": [{"ip": step}]}
    path.write_text(json.dumps(config, indent=2) + "\n")  # JSON is YAML
    path.chmod(0o644)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--output", default=str(HERE / "results-defaults.md"))
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("bench_defaults: needs root (namespaces, addresses in them)", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    wall: dict[str, list[float]] = {name: [] for name in CONFIGS}
    cpu: dict[str, list[float]] = {name: [] for name in CONFIGS}
    loads: list[float] = []
    with veth_pair(NODE, PEER, "10.213.43.201/24", "10.213.43.202/24"), tempfile.TemporaryDirectory(prefix="tsbp-dc-") as d:
        tmp = Path(d)
        configs = {name: write_config(tmp, i, step) for i, (name, step) in enumerate(CONFIGS.items())}
        for i in range(args.runs):
            print(f"bench_defaults: round {i + 1}/{args.runs}", file=sys.stderr)
            loads.append(os.getloadavg()[0])
            for name in CONFIGS if i % 2 == 0 else reversed(CONFIGS):
                twinstar = ["ip", "netns", "exec", NODE, sys.executable, "-m", "twinstar", "-c", str(configs[name])]
                subprocess.run([*twinstar, "release"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                took, used = run_timed([*twinstar, "takeover"])
                wall[name].append(took)
                cpu[name].append(used)
                subprocess.run([*twinstar, "release"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    median = {name: statistics.median(wall[name]) for name in CONFIGS}
    defaults, demo = median[DEFAULTS], median[DEMO]
    difference = defaults - demo
    rows = [
        f"| {name} | {median[name]:.0f} | {spread(wall[name])} | {statistics.median(cpu[name]):.0f} | {spread(cpu[name])} |"
        for name in CONFIGS
    ]
    text = "\n".join([
        "## The default configuration (a takeover of the shared address)",
        "",
        f"Whole `twinstar takeover` processes with one `ip` step, {args.runs} interleaved runs each; median "
        f"(interquartile range) in ms; {os.cpu_count()} CPUs, load (1 min) {load_span(loads)} during "
        f"the runs, {load()} at the end. Reproduce: `sudo .venv/bin/python bench/bench_defaults.py`.",
        "",
        "| `ip` step | takeover (ms) | interquartile range | CPU (ms) | interquartile range |",
        "|---|---:|---:|---:|---:|",
        *rows,
        "",
        f"The documented defaults (`dad_timeout: 0.5`, `arp_count: 5`, `arp_interval: 1.0`) against the demo's "
        f"(`dad_timeout: 0.03`, `arp_count: 3`, `arp_interval: 0.2`): {difference:+.0f} ms. Goal: within "
        f"{GOAL_MS} ms: **{'met' if difference <= GOAL_MS else 'not met'}**.",
        "",
        goal_table([(
            f"a takeover with the documented defaults within {GOAL_MS} ms of the demo's configuration",
            f"the demo's `ip` step: {demo:.0f} ms",
            f"{defaults:.0f} ms ({difference:+.0f} ms): **{'met' if difference <= GOAL_MS else 'not met'}**",
            f"{spread(wall[DEFAULTS])} vs {spread(wall[DEMO])}",
            load_span(loads),
        )]),
    ])  # fmt: skip
    Path(args.output).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
