"""Whole-process ``twinstar status`` with 8 simulated units (target: median under 150 ms).

Each run is a fresh ``python -m twinstar status`` process against a simulated
Astribank state file (TWINSTAR_USB_SIMULATOR), so it includes interpreter
start-up, imports, the USB scan and five MPP exchanges per unit. It is timed
twice: with the USB section only (no configuration file), and as on an
installed node, with a configuration, so that ``status`` also reads the eight
units' xbus devices (a fake sysfs tree) against ``xpp_order``, the node's
state and the daemon's. For reference it also times a bare interpreter start
and ``twinstar --version``.
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
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
UNITS = 8
TARGET_MS = 150.0


def timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, env=env)
    return time.perf_counter() - start


def median_ms(argv: list[str], env: dict[str, str], runs: int) -> float:
    timed(argv, env)  # warm the page cache
    return statistics.median(timed(argv, env) for _ in range(runs)) * 1000


def configure(directory: str, state: str) -> str:
    """A node's configuration: the simulated units in a fake sysfs tree and listed in xpp_order."""
    from twinstar.standins.fakesysfs import FakeSysfs

    fake = FakeSysfs(os.path.join(directory, "sys"))
    for num in range(UNITS):
        fake.arrive(num, label=f"usb:SIM{num + 1:05d}", connector=f"usb-0000:00:1d.7-{num + 1}",
                    busnum=1, devnum=num + 2)
    xpp_order = os.path.join(directory, "xpp_order")
    Path(xpp_order).write_text("".join(f"usb:SIM{num + 1:05d}\n" for num in range(UNITS)))
    config = os.path.join(directory, "twinstar.yaml")
    Path(config).write_text(
        f"node: bench\nstate_dir: {directory}/state\n"
        f"astribanks: {{sysfs: {fake.root}, xpp_order: {xpp_order}}}\n"
        f"usb: {{simulator: {state}, simulator_port: 0}}\n"
        "takeover:\n  - dahdi: {}\n"
    )
    os.chmod(config, 0o644)
    return config


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--output", default=str(HERE / "results-status.md"))
    args = parser.parse_args()
    if args.runs < 10:
        parser.error("--runs must be at least 10")
    twinstar = [sys.executable, "-m", "twinstar"]
    with tempfile.TemporaryDirectory() as d:
        state = os.path.join(d, "astribanks.json")
        env = {k: v for k, v in os.environ.items() if not k.startswith("TWINSTAR_")}
        subprocess.run([*twinstar, "sim", "init", state, "--units", str(UNITS)], check=True,
                       stdout=subprocess.DEVNULL, env=env)
        env.update(TWINSTAR_CONFIG=os.path.join(d, "none.yaml"), TWINSTAR_USB_SIMULATOR=state,
                   TWINSTAR_USB_SIM_PORT="0")
        out = subprocess.run([*twinstar, "status"], check=True, capture_output=True, text=True, env=env).stdout
        if len(out.splitlines()) != UNITS + 1:
            raise SystemExit(f"expected {UNITS} units in the status output, got:\n{out}")
        status = median_ms([*twinstar, "status"], env, args.runs)
        config = configure(d, state)
        out = subprocess.run([*twinstar, "--config", config, "status", "-v"], check=True, capture_output=True, text=True,
                             env=env).stdout
        if f"{UNITS}/{UNITS} ready" not in out:
            raise SystemExit(f"expected {UNITS}/{UNITS} units ready on the configured node, got:\n{out}")
        configured = median_ms([*twinstar, "--config", config, "status", "-v"], env, args.runs)
        status_json = median_ms([*twinstar, "status", "--json"], env, args.runs)
        version = median_ms([*twinstar, "--version"], env, args.runs)
        python = median_ms([sys.executable, "-c", "pass"], env, args.runs)
    verdict = "met" if status < TARGET_MS else "MISSED"
    verdict_configured = "met" if configured < TARGET_MS else "MISSED"
    table = "\n".join([
        f"# twinstar status benchmark ({UNITS} simulated units, median of {args.runs} runs)",
        "",
        "| command | median (ms) | target |",
        "|---|---:|---:|",
        f"| `twinstar status` | {status:.1f} | < {TARGET_MS:.0f} ms ({verdict}) |",
        f"| `twinstar status -v` on a configured node (+ xpp_order readiness, role, daemon) | {configured:.1f} "
        f"| < {TARGET_MS:.0f} ms ({verdict_configured}) |",
        f"| `twinstar status --json` | {status_json:.1f} | |",
        f"| `twinstar --version` (start-up and imports only) | {version:.1f} | |",
        f"| `python -c pass` (interpreter start) | {python:.1f} | |",
        "",
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at the end "
        "(other work on the machine inflates every row alike).",
        "",
    ])
    Path(args.output).write_text(table)
    print(table, end="")
    return 0 if max(status, configured) < TARGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
