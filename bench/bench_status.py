"""Whole-process ``twinstar status`` with 8 simulated units (target: median at most 55 ms), and ``--version``.

Each run is a fresh ``twinstar status`` process, the command as installed (the
console script beside this interpreter), against a simulated Astribank state
file (TWINSTAR_USB_SIMULATOR), so it includes interpreter start-up, imports,
the USB scan and five MPP exchanges per unit. ``python -m twinstar status`` is
a row of its own: it also loads runpy, which the installed command does not. It is timed
twice: with the USB section only (no configuration file), and as on an
installed node, with a configuration, so that ``status`` also reads the eight
units' xbus devices (a fake sysfs tree) against ``xpp_order``, the node's
state and the daemon's; and with 16 units. It also times ``twinstar --version``
(target: at most twice a bare interpreter start) and that bare start. Every
row is interleaved with the others, round by round. Where valgrind is
installed, each row also runs once under callgrind: the instructions of the
process, which the machine's other work does not move.
Results go to bench/results-status.md and are printed.

usage: python bench/bench_status.py [--runs N]
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

from timing import goal_table, instructions, load, load_span, run_timed, spread  # noqa: E402

UNITS = 8
TARGET_MS = 55.0
VERSION_RATIO = 2.0


def configure(directory: str, state: str, units: int = UNITS) -> str:
    """A node's configuration: the simulated units in a fake sysfs tree and listed in xpp_order."""
    from twinstar.standins.fakesysfs import FakeSysfs

    fake = FakeSysfs(os.path.join(directory, "sys"))
    for num in range(units):
        fake.arrive(num, label=f"usb:SIM{num + 1:05d}", connector=f"usb-0000:00:1d.7-{num + 1}",
                    busnum=1, devnum=num + 2)
    xpp_order = os.path.join(directory, "xpp_order")
    Path(xpp_order).write_text("".join(f"usb:SIM{num + 1:05d}\n" for num in range(units)))
    config = os.path.join(directory, "twinstar.yaml")
    Path(config).write_text(
        f"node: bench\nstate_dir: {directory}/state\n"
        f"astribanks: {{sysfs: {fake.root}, xpp_order: {xpp_order}}}\n"
        f"usb: {{simulator: {state}, simulator_port: 0}}\n"
        "takeover:\n  - dahdi: {}\n"
    )
    os.chmod(config, 0o644)
    return config


def installed() -> list[str]:
    """``twinstar`` as installed: the console script beside this interpreter (``python -m twinstar`` where there is none)."""
    script = Path(sys.executable).parent / "twinstar"
    return [str(script)] if script.exists() else [sys.executable, "-m", "twinstar"]


def _millions(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--output", default=str(HERE / "results-status.md"))
    args = parser.parse_args()
    if args.runs < 5:
        parser.error("--runs must be at least 5")
    twinstar = installed()
    module = [sys.executable, "-m", "twinstar"]
    with tempfile.TemporaryDirectory() as d:
        base = {k: v for k, v in os.environ.items() if not k.startswith("TWINSTAR_")}
        rows: dict[str, tuple[list[str], dict[str, str]]] = {}
        for units in (UNITS, 16):
            sub = os.path.join(d, f"u{units}")
            os.mkdir(sub)
            cache = os.path.join(sub, "cache")
            os.mkdir(cache, 0o700)
            state = os.path.join(sub, "astribanks.json")
            subprocess.run([*twinstar, "sim", "init", state, "--units", str(units)], check=True,
                           stdout=subprocess.DEVNULL, env=base)
            env = {**base, "TWINSTAR_CONFIG": os.path.join(sub, "none.yaml"), "TWINSTAR_USB_SIMULATOR": state,
                   "TWINSTAR_USB_SIM_PORT": "0", "TWINSTAR_CACHE_DIR": cache}
            out = subprocess.run([*twinstar, "status"], check=True, capture_output=True, text=True, env=env).stdout
            if len(out.splitlines()) != units + 1:
                raise SystemExit(f"expected {units} units in the status output, got:\n{out}")
            config = configure(sub, state, units)
            out = subprocess.run([*twinstar, "--config", config, "status", "-v"], check=True, capture_output=True,
                                 text=True, env=env).stdout
            if f"{units}/{units} ready" not in out:
                raise SystemExit(f"expected {units}/{units} units ready on the configured node, got:\n{out}")
            if units == UNITS:
                rows["`twinstar status`"] = ([*twinstar, "status"], env)
                rows["`twinstar status -v` on a configured node (+ xpp_order readiness, role, daemon)"] = (
                    [*twinstar, "--config", config, "status", "-v"], env)
                rows["`twinstar status --json`"] = ([*twinstar, "status", "--json"], env)
                rows["`python -m twinstar status` (+ runpy)"] = ([*module, "status"], env)
                rows["`twinstar --version`"] = ([*twinstar, "--version"], env)
                rows["`python -c pass` (interpreter start)"] = ([sys.executable, "-c", "pass"], env)
            else:
                rows["`twinstar status`, 16 units"] = ([*twinstar, "status"], env)
                rows["`twinstar status -v`, 16 units, configured node"] = (
                    [*twinstar, "--config", config, "status", "-v"], env)
        times: dict[str, list[float]] = {name: [] for name in rows}
        cpu: dict[str, list[float]] = {name: [] for name in rows}
        loads: list[float] = []
        for i in range(args.runs + 1):
            for name, (argv, env) in rows.items():
                wall, used = run_timed(argv, env)
                if i:  # the first round warms the page cache
                    times[name].append(wall)
                    cpu[name].append(used)
            loads.append(os.getloadavg()[0])
        counted = {name: instructions(argv, {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"})
                   for name, (argv, env) in rows.items()}
    median = {name: statistics.median(t) for name, t in times.items()}
    python = median["`python -c pass` (interpreter start)"]
    version = median["`twinstar --version`"]
    status = median["`twinstar status`"]
    configured = median["`twinstar status -v` on a configured node (+ xpp_order readiness, role, daemon)"]
    targets = {
        "`twinstar status`": f"≤ {TARGET_MS:.0f} ms ({'met' if status <= TARGET_MS else 'NOT met'})",
        "`twinstar status -v` on a configured node (+ xpp_order readiness, role, daemon)":
            f"≤ {TARGET_MS:.0f} ms ({'met' if configured <= TARGET_MS else 'NOT met'})",
        "`twinstar --version`": f"≤ {VERSION_RATIO:g}x python ({version / python:.2f}x: "
                                f"{'met' if version <= VERSION_RATIO * python else 'NOT met'})",
    }
    table = "\n".join([
        f"## twinstar status and --version (simulated units, median of {args.runs} interleaved runs)",
        "",
        "| command | median (ms) | interquartile range | CPU time, median (ms) | interquartile range | instructions (M) "
        "| target |",
        "|---|---:|---:|---:|---:|---:|---:|",
        *(f"| {name} | {median[name]:.1f} | {spread(times[name])} | {statistics.median(cpu[name]):.1f} "
          f"| {spread(cpu[name])} | {_millions(counted[name])} | {targets.get(name, '')} |" for name in rows),
        "",
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average (1/5/15 min) {load()} at the end "
        "(other work on the machine inflates every row alike; the CPU time, user + system, does not count the waits "
        "for a core). The simulator (a pyusb backend writing its state "
        "file on each claim and release of a unit) stands in for the units. "
        "Reproduce: `.venv/bin/python bench/bench_status.py`.",
        "",
        goal_table([
            (f"`twinstar status`, {UNITS} units, ≤ {TARGET_MS:.0f} ms", f"original Perl `status`: {TARGET_MS:.0f} ms",
             f"CPU {statistics.median(cpu['`twinstar status`']):.0f} ms, wall {status:.0f} ms; "
             f"{_millions(counted['`twinstar status`'])} M instructions (`python -c pass`: "
             f"{_millions(counted['`python -c pass` (interpreter start)'])} M): "
             f"**{'met' if status <= TARGET_MS else 'not met'}**",
             f"CPU {spread(cpu['`twinstar status`'])}", load_span(loads)),
            ("`twinstar --version` ≤ 2x bare python", "`python -c pass`: CPU "
             f"{statistics.median(cpu['`python -c pass` (interpreter start)']):.1f} ms",
             f"CPU {statistics.median(cpu['`twinstar --version`']):.1f} ms, wall {version / python:.2f}x: "
             f"**{'met' if version <= VERSION_RATIO * python else 'not met'}**",
             f"CPU {spread(cpu['`twinstar --version`'])}", load_span(loads)),
        ]),
    ])
    Path(args.output).write_text(table)
    print(table, end="")
    return 0 if max(status, configured) <= TARGET_MS and version <= VERSION_RATIO * python else 1


if __name__ == "__main__":
    sys.exit(main())
