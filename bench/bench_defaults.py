"""A takeover with the documented defaults against one with the demo's configuration, interleaved.

Where the two configurations differ is the ``ip`` step: the documented
defaults (docs/steps.md: ``arp_count: 5``, ``arp_interval: 1.0``,
``dad_timeout: 0.2``) against the demo's values (``arp_count: 3``,
``arp_interval: 0.2``, ``dad_timeout: 0.03``). Only ``dad_timeout`` is on the
way: the announcements after the first are sent by a detached process.

1. The light demo's power loss (``twinstar demo --json --stack light
   --units 2``) with ``--dad-timeout 0.2`` against the demo's 0.03: twinstar's
   part, last unit READY on pbx-b -> the client served (``ready_to_answer_ms``).
   The probe starts when the first unit arrives (the prepared takeover
   runner's, started ahead) and listens until the ip step collects it, so
   what it costs depends on how long the units take from their arrival to
   READY: run with the demo's simulated 100 ms and with 3 s (``--unit-init``;
   real units load their firmware and FPGA first, which takes seconds). That
   time is detection, not twinstar's, and is reported apart.
2. A whole one-shot ``twinstar takeover`` process with only the ``ip`` step,
   taking 10.213.43.200/24 on a veth in namespace ``tsbp-dc-a`` (its peer, in
   ``tsbp-dc-b``, gives the carrier and answers for nobody, so
   duplicate-address detection listens its full time); an untimed release
   between runs. Nothing runs before the step: nothing hides the probe.

The goal: the defaults within 100 ms of the demo's configuration.
Namespaces are removed at the end, on failure and on Ctrl-C. Results go to
bench/results-defaults.md. Needs root.

usage: sudo .venv/bin/python bench/bench_defaults.py [--runs N] [--demo-runs N]
"""

from __future__ import annotations

import argparse
import dataclasses
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

from bench_demo import one_run  # noqa: E402
from netns import veth_pair  # noqa: E402
from timing import goal_table, load, load_span, run_timed, spread  # noqa: E402

from twinstar.demo.scenario import Options  # noqa: E402
from twinstar.steps.ip_spec import IpSpec  # noqa: E402

NODE, PEER = "tsbp-dc-a", "tsbp-dc-b"
ADDRESS = "10.213.43.200/24"
GOAL_MS = 100
DEFAULTS, DEMO = "documented defaults", "the demo's"
#: The ip step of each configuration; the defaults leave everything but the required keys out.
CONFIGS: dict[str, dict[str, object]] = {
    DEFAULTS: {"address": ADDRESS, "interface": "eth0"},
    DEMO: {"address": ADDRESS, "interface": "eth0", "arp_count": 3, "arp_interval": 0.2, "dad_timeout": Options.dad_timeout},
}
#: The documented default (the defaults' ip step leaves it out).
DOCUMENTED_DAD = next(f.default for f in dataclasses.fields(IpSpec) if f.name == "dad_timeout")
#: The demo's units' arrival -> READY (ms): the demo's simulated driver, and units that take seconds.
UNIT_INITS = (100, 3000)


def write_config(tmp: Path, key: int, step: dict[str, object]) -> Path:
    path = tmp / f"twinstar-{key}.yaml"
    config = {"node": "bench", "state_dir": str(tmp / f"state-{key}"), "takeover": [{"ip": step}]}
    path.write_text(json.dumps(config, indent=2) + "\n")  # JSON is YAML
    path.chmod(0o644)
    return path


def verdict(difference: float) -> str:
    return "met" if difference <= GOAL_MS else "not met"


def demo_part(runs: int) -> tuple[list[str], list[tuple[str, str, str, str, str]]]:
    """Part 1: the light demo's power loss, both ``dad_timeout`` values, at each of :data:`UNIT_INITS`."""
    dads = {DEFAULTS: str(DOCUMENTED_DAD), DEMO: str(CONFIGS[DEMO]["dad_timeout"])}
    served: dict[tuple[int, str], list[float]] = {(init, name): [] for init in UNIT_INITS for name in dads}
    loads: list[float] = []
    for i in range(runs):
        for init in UNIT_INITS:
            print(f"bench_defaults: demo round {i + 1}/{runs}, units READY {init} ms after arriving", file=sys.stderr)
            loads.append(os.getloadavg()[0])
            for name in dads if i % 2 == 0 else reversed(dads):
                extra = ("--dad-timeout", dads[name], "--unit-init", str(init))
                served[init, name].append(one_run("power-loss", 2, 500, extra=extra)["ready_to_answer_ms"])
    median = {key: statistics.median(values) for key, values in served.items()}
    lines = [
        "### The light demo's power loss",
        "",
        f"`twinstar demo --json --stack light --scenario power-loss --units 2 --dad-timeout S --unit-init MS`, "
        f"{runs} interleaved runs each; twinstar's part of the failover, last unit READY on pbx-b -> the client "
        f"served, median (interquartile range) in ms; load (1 min) {load_span(loads)}.",
        "",
        f"| units' arrival -> READY | documented defaults (`dad_timeout: {dads[DEFAULTS]}`) "
        f"| the demo's (`dad_timeout: {dads[DEMO]}`) | difference |",
        "|---|---:|---:|---:|",
    ]
    rows = []
    for init in UNIT_INITS:
        defaults, demo = median[init, DEFAULTS], median[init, DEMO]
        difference = defaults - demo
        lines.append(
            f"| {init} ms | {defaults:.0f} ({spread(served[init, DEFAULTS])}) | {demo:.0f} ({spread(served[init, DEMO])}) "
            f"| {difference:+.0f} ms |"
        )
        rows.append((
            f"the light demo's failover (READY -> served) with the documented defaults within {GOAL_MS} ms of the "
            f"demo's configuration, units READY {init} ms after arriving",
            f"the demo's configuration: {demo:.0f} ms",
            f"{defaults:.0f} ms ({difference:+.0f} ms): **{verdict(difference)}**",
            f"{spread(served[init, DEFAULTS])} vs {spread(served[init, DEMO])}",
            load_span(loads),
        ))  # fmt: skip
    return lines, rows


def takeover_part(runs: int) -> tuple[list[str], list[tuple[str, str, str, str, str]]]:
    """Part 2: whole one-shot ``twinstar takeover`` processes with only the ``ip`` step."""
    wall: dict[str, list[float]] = {name: [] for name in CONFIGS}
    cpu: dict[str, list[float]] = {name: [] for name in CONFIGS}
    loads: list[float] = []
    with veth_pair(NODE, PEER, "10.213.43.201/24", "10.213.43.202/24"), tempfile.TemporaryDirectory(prefix="tsbp-dc-") as d:
        tmp = Path(d)
        configs = {name: write_config(tmp, i, step) for i, (name, step) in enumerate(CONFIGS.items())}
        for i in range(runs):
            print(f"bench_defaults: takeover round {i + 1}/{runs}", file=sys.stderr)
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
    lines = [
        "### A one-shot takeover of the address alone",
        "",
        f"Whole `twinstar takeover` processes with one `ip` step, {runs} interleaved runs each; median "
        f"(interquartile range) in ms; load (1 min) {load_span(loads)}.",
        "",
        "| `ip` step | takeover (ms) | interquartile range | CPU (ms) | interquartile range |",
        "|---|---:|---:|---:|---:|",
        *(
            f"| {name} | {median[name]:.0f} | {spread(wall[name])} | {statistics.median(cpu[name]):.0f} | {spread(cpu[name])} |"
            for name in CONFIGS
        ),
    ]
    row = (
        f"a one-shot takeover of the address alone with the documented defaults within {GOAL_MS} ms of the demo's configuration",
        f"the demo's `ip` step: {demo:.0f} ms",
        f"{defaults:.0f} ms ({difference:+.0f} ms): **{verdict(difference)}**",
        f"{spread(wall[DEFAULTS])} vs {spread(wall[DEMO])}",
        load_span(loads),
    )
    return lines, [row]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="one-shot takeovers per configuration")
    parser.add_argument("--demo-runs", type=int, default=6, help="demo runs per configuration and units' initialisation")
    parser.add_argument("--output", default=str(HERE / "results-defaults.md"))
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("bench_defaults: needs root (namespaces, addresses in them)", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    demo_lines, demo_rows = demo_part(args.demo_runs)
    takeover_lines, takeover_rows = takeover_part(args.runs)
    text = "\n".join([
        "## The default configuration (a takeover of the shared address)",
        "",
        f"The documented defaults of the `ip` step (`dad_timeout: {DOCUMENTED_DAD}`, `arp_count: 5`, `arp_interval: 1.0`) "
        f"against the demo's (`dad_timeout: {Options.dad_timeout}`, `arp_count: 3`, `arp_interval: 0.2`); {os.cpu_count()} CPUs, "
        f"load {load()} at the end. Reproduce: `sudo .venv/bin/python bench/bench_defaults.py`.",
        "",
        *demo_lines,
        "",
        *takeover_lines,
        "",
        goal_table(demo_rows + takeover_rows),
    ])  # fmt: skip
    Path(args.output).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
