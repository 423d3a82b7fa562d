"""Whole-process ``atribank_hook`` against a bare interpreter start, for 1, 4, 16 and 64 units.

For each N, a fake sysfs tree with N listed units and a warm configuration
cache. Two events are timed, both whole processes of the hook (a copy of
hooks/atribank_hook whose ``#!`` names this interpreter, as ``make install``
writes it):

* ``active``:   ``online`` with all N units READY and the node already
  active (reads ``state.json``: the heaviest path that hands nothing off);
* ``arriving``: ``online`` while the last unit is still probing (most events
  of an arrival).

``python -c pass`` with the same interpreter is timed in the same rounds,
interleaved, so drift hits all three alike. Target: at most 1.3x the bare
start at every N (also with 64 listed units among 127 xbus devices: 63
unlisted ones present). Results go to bench/results-hook.md.

usage: .venv/bin/python bench/bench_hook.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))

from timing import load, spread  # noqa: E402

from twinstar.standins.fakesysfs import FakeSysfs  # noqa: E402

#: (listed units, xbus devices present)
SIZES = ((1, 1), (4, 4), (16, 16), (64, 64), (64, 127))
TARGET = 1.3


def build(tmp: Path, n: int, devices: int | None = None) -> tuple[dict[str, str], dict[str, str], list[str]]:
    """A node with n listed units (and ``devices - n`` unlisted ones); the environments of both events and the hook's argv."""
    devices = n if devices is None else devices
    root = tmp / f"n{n}-{devices}"
    fs = FakeSysfs(str(root / "sys"))
    order = root / "xpp_order"
    order.write_text("".join(f"usb:{i:08d}\t# @usb-0000:00:1d.7-{i} #(XBUS-{i:02d})\n" for i in range(n)))
    config = root / "twinstar.yaml"
    config.write_text(
        f"node: bench\nstate_dir: {root / 'state'}\nmaintenance_file: {root / 'maintenance'}\nhandoff: inline\n"
        f"astribanks: {{sysfs: {fs.root}, xpp_order: {order}, rearm_watchdog: false}}\n"
        "takeover:\n  - command: {name: noop, start: [/bin/true], stop: [/bin/true]}\n"
    )
    config.chmod(0o644)
    os.utime(config, (time.time() - 60, time.time() - 60))
    hook = root / "atribank_hook"
    hook.write_text(f"#!{sys.executable}\n" + (REPO / "hooks" / "atribank_hook").read_text().split("\n", 1)[1])
    hook.chmod(0o755)
    base = {k: v for k, v in os.environ.items() if not k.startswith("TWINSTAR_")}
    base.update(TWINSTAR_CONFIG=str(config), TWINSTAR_CACHE_DIR=str(root / "cache"))
    for i in range(n):
        fs.arrive(i, label=f"usb:{i:08d}", connector=f"usb-0000:00:1d.7-{i}")
    for i in range(n, devices):
        fs.arrive(i, label=f"usb:{i:08d}", connector=f"usb-0000:00:1e.0-{i}")
    active = {**base, **fs.event("online", n - 1)}
    subprocess.run([str(hook)], env=active, check=True, stderr=subprocess.DEVNULL)  # takeover; writes the cache
    # A second tree for the arrival: same units, the last one still probing.
    arriving_fs = FakeSysfs(str(root / "sys-arriving"))
    for i in range(devices):
        arriving_fs.create_unit(i)
        arriving_fs.attach(i, label=f"usb:{i:08d}", connector=f"usb-0000:00:1d.7-{i}")
        if i != n - 1:
            arriving_fs.online(i)
        else:
            arriving_fs.set_state(i, "RECVD_DESC")
    config2 = root / "twinstar-arriving.yaml"
    config2.write_text(config.read_text().replace(fs.root, arriving_fs.root).replace(str(root / "state"), str(root / "state2")))
    config2.chmod(0o644)
    os.utime(config2, (time.time() - 60, time.time() - 60))
    arriving = {**base, "TWINSTAR_CONFIG": str(config2), **arriving_fs.event("online", max(n - 2, 0))}
    for env in (active, arriving):
        proc = subprocess.run([str(hook)], env=env, capture_output=True, text=True, check=True)
        expect = "already active" if env is active else "waiting for the listed units"
        if expect not in proc.stderr:
            raise SystemExit(f"bench set-up is wrong for N={n}, {devices} devices: {proc.stderr}")
    return active, arriving, [str(hook)]


def once(argv: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=41)
    parser.add_argument("--output", default=str(HERE / "results-hook.md"))
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as d:
        for n, devices in SIZES:
            active, arriving, hook = build(Path(d), n, devices)
            bare_t: list[float] = []
            active_t: list[float] = []
            arriving_t: list[float] = []
            for _ in range(3):  # warm the page cache
                once([sys.executable, "-c", "pass"])
                once(hook, active)
            for _ in range(args.runs):
                bare_t.append(once([sys.executable, "-c", "pass"]) * 1000)
                active_t.append(once(hook, active) * 1000)
                arriving_t.append(once(hook, arriving) * 1000)
            rows.append((n, devices, bare_t, active_t, arriving_t))
    lines = [
        "## atribank_hook",
        "",
        f"Whole process, median (interquartile range) of {args.runs} runs each, interleaved with a bare `python -c pass` "
        f"of the same interpreter; {os.cpu_count()} CPUs, Python {platform.python_version()}, load average (1/5/15 min) "
        f"{load()} at the end. Reproduce: `.venv/bin/python bench/bench_hook.py`.",
        "`active`: online event, all N units READY, node already active. `arriving`: online event, last unit still probing.",
        "",
        "| listed units (xbus devices) | bare python (ms) | hook, active (ms) | ratio | hook, arriving (ms) | ratio | target |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    ok = True
    for n, devices, bare_t, active_t, arriving_t in rows:
        bare, act, arr = (statistics.median(t) for t in (bare_t, active_t, arriving_t))
        ok = ok and max(act, arr) / bare <= TARGET
        lines.append(
            f"| {n} ({devices}) | {bare:.1f} ({spread(bare_t)}) | {act:.1f} ({spread(active_t)}) | {act / bare:.2f}x "
            f"| {arr:.1f} ({spread(arriving_t)}) | {arr / bare:.2f}x | ≤ {TARGET:g}x |"
        )
    lines.append("")
    lines.append(f"Target {'met' if ok else 'NOT met'}.")
    text = "\n".join(lines) + "\n"
    Path(args.output).write_text(text)
    print(text)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
