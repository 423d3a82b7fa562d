"""Whole-process ``atribank_hook`` against a bare interpreter start, for 1, 4, 16 and 64 units.

For each N, a fake sysfs tree with N listed units and a warm configuration
cache. Two events are timed, both whole processes of the hook as an
installation writes it (hooks/atribank_hook with this interpreter on its
``#!`` line, its ``-IS`` flags kept, and this tree as its package directory:
``twinstar.ops.installation.hook_text``):

* ``active``:   ``online`` with all N units READY and the node already
  active (reads ``state.json``: the heaviest path that hands nothing off);
* ``arriving``: ``online`` while the last unit is still probing (most events
  of an arrival), with ``handoff: spawn`` as on a node (``auto`` is
  ``systemd`` or ``spawn``; both start the pair policy's runner detached):
  some units but not all are here, which the pair policy looks at, so the
  hook hands a policy runner off (the runner, a process of its own, is not
  counted; the bench waits for it between runs).

Bare starts of the same interpreter are timed in the same rounds, interleaved:
``python -c pass`` (the goal is written against it) and ``python -I -S -c pass``
(the hook's own start: isolated, without ``site``), so that neither ratio misleads.
Target: at most 1.3x ``python -c pass`` at every N (also with 64 listed
units among 127 xbus devices: 63 unlisted ones present). Where valgrind is
installed, each case also runs once under callgrind: instructions, which the
machine's other work does not move. Results go to bench/results-hook.md.

usage: .venv/bin/python bench/bench_hook.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import platform
import re
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

from timing import goal_table, instructions, load, load_span, spread  # noqa: E402

from twinstar.ops.installation import hook_text  # noqa: E402
from twinstar.standins.fakesysfs import FakeSysfs  # noqa: E402

#: (listed units, xbus devices present)
SIZES = ((1, 1), (4, 4), (16, 16), (64, 64), (64, 127))
TARGET = 1.3
BARE = "python -c pass"
ISOLATED = "python -I -S -c pass"


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
    hook = hook_file(root)
    base = {k: v for k, v in os.environ.items() if not k.startswith("TWINSTAR_")}
    base.update(TWINSTAR_CONFIG=str(config), TWINSTAR_CACHE_DIR=str(root / "cache"))
    for i in range(n):
        fs.arrive(i, label=f"usb:{i:08d}", connector=f"usb-0000:00:1d.7-{i}")
    for i in range(n, devices):
        fs.arrive(i, label=f"usb:{i:08d}", connector=f"usb-0000:00:1e.0-{i}")
    active = {**base, **fs.event("online", n - 1)}
    subprocess.run([hook], env=active, check=True, stderr=subprocess.DEVNULL)  # takeover; writes the cache
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
    config2.write_text(config.read_text().replace(fs.root, arriving_fs.root).replace(str(root / "state"), str(root / "state2"))
                       .replace("handoff: inline", "handoff: spawn"))
    config2.chmod(0o644)
    os.utime(config2, (time.time() - 60, time.time() - 60))
    arriving = {**base, "TWINSTAR_CONFIG": str(config2), **arriving_fs.event("online", max(n - 2, 0))}
    for env in (active, arriving):
        proc = subprocess.run([hook], env=env, capture_output=True, text=True, check=True)
        wait_for_runner(proc.stderr)
        expect = "already active" if env is active else "waiting for the listed units; policy handed off"
        if expect not in proc.stderr:
            raise SystemExit(f"bench set-up is wrong for N={n}, {devices} devices: {proc.stderr}")
    return active, arriving, [hook]


def hook_file(where: Path) -> str:
    """hooks/atribank_hook as installed, with this interpreter and this tree."""
    hook = where / "atribank_hook"
    hook.write_bytes(hook_text((REPO / "hooks" / "atribank_hook").read_bytes(), sys.executable, str(REPO)))
    hook.chmod(0o755)
    return str(hook)


def run(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """One whole process: wall-clock and CPU time (ms); a policy runner it handed off is awaited, untimed."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = (time.perf_counter() - start) * 1000
    assert proc.stderr is not None
    stderr = proc.stderr.read()
    proc.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{argv[0]} failed: {stderr}")
    wait_for_runner(stderr)
    return wall, (usage.ru_utime + usage.ru_stime) * 1000


def wait_for_runner(stderr: str) -> None:
    """Wait until the detached process the hook names (``... detached process (pid N)``) has ended."""
    found = re.search(r"detached process \(pid (\d+)\)", stderr)
    if found:
        for _ in range(6000):
            if not os.path.exists(f"/proc/{found.group(1)}"):
                return
            time.sleep(0.01)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=41)
    parser.add_argument("--output", default=str(HERE / "results-hook.md"))
    args = parser.parse_args()
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "twinstar")], check=True,
                   stdout=subprocess.DEVNULL, env=clean)
    bare = {BARE: [sys.executable, "-c", "pass"], ISOLATED: [sys.executable, "-I", "-S", "-c", "pass"]}
    counted: dict[str, float | None] = {name: instructions(argv, clean) for name, argv in bare.items()}
    loads: list[float] = []
    rows = []
    with tempfile.TemporaryDirectory() as d:
        for n, devices in SIZES:
            active, arriving, hook = build(Path(d), n, devices)
            cases = {**{name: (argv, clean) for name, argv in bare.items()}, "active": (hook, active),
                     "arriving": (hook, arriving)}
            wall: dict[str, list[float]] = {name: [] for name in cases}
            cpu: dict[str, list[float]] = {name: [] for name in cases}
            for i in range(args.runs + 3):
                for name, (argv, env) in cases.items():
                    w, c = run(argv, env)
                    if i >= 3:  # the first rounds warm the page cache
                        wall[name].append(w)
                        cpu[name].append(c)
                loads.append(os.getloadavg()[0])
            ins = {name: instructions(hook, env) for name, (_, env) in cases.items() if name in ("active", "arriving")}
            rows.append((n, devices, wall, cpu, ins))
    med = statistics.median
    lines = [
        "## atribank_hook",
        "",
        f"Whole processes, median (interquartile range) of {args.runs} runs each, interleaved with bare starts of the "
        f"same interpreter; {os.cpu_count()} CPUs, Python {platform.python_version()}, load (1 min) "
        f"{load_span(loads)} during the runs, {load()} at the end. Reproduce: `.venv/bin/python bench/bench_hook.py`.",
        "`active`: online event, all N units READY, node already active. `arriving`: online event, last unit still "
        "probing, `handoff: spawn`: the hook hands the pair policy's runner off (not counted; awaited between runs).",
        f"The hook runs as installed: `python3 -IS` (isolated, without `site`). Ratios against `{BARE}` "
        f"(the goal as written) and against `{ISOLATED}` (the same kind of start as the hook's).",
        "",
    ]
    bare_ins, iso_ins = counted[BARE], counted[ISOLATED]
    if bare_ins and iso_ins:
        lines += [
            f"Instructions (valgrind callgrind, one run each): `{BARE}` {bare_ins:.1f} M, `{ISOLATED}` {iso_ins:.1f} M.",
            "",
            "| listed units (xbus devices) | active (M) | / bare | / -I -S | arriving (M) | / bare | / -I -S |",
            "|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for n, devices, _, _, ins in rows:
            a, r = ins["active"] or 0.0, ins["arriving"] or 0.0
            lines.append(f"| {n} ({devices}) | {a:.1f} | {a / bare_ins:.2f}x | {a / iso_ins:.2f}x | {r:.1f} "
                         f"| {r / bare_ins:.2f}x | {r / iso_ins:.2f}x |")
        lines.append("")
    lines += [
        "| listed units (xbus devices) | `python -c pass` (ms) | `-I -S` (ms) | active (ms) | ratio | arriving (ms) | ratio "
        "| CPU: bare / -I -S / active / arriving (ms) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n, devices, wall, cpu, _ in rows:
        b, i, a, r = (med(wall[k]) for k in (BARE, ISOLATED, "active", "arriving"))
        cb, ci, ca, cr = (med(cpu[k]) for k in (BARE, ISOLATED, "active", "arriving"))
        lines.append(f"| {n} ({devices}) | {b:.1f} ({spread(wall[BARE])}) | {i:.1f} | {a:.1f} ({spread(wall['active'])}) "
                     f"| {a / b:.2f}x | {r:.1f} ({spread(wall['arriving'])}) | {r / b:.2f}x "
                     f"| {cb:.1f} / {ci:.1f} / {ca:.1f} / {cr:.1f} |")
    lines.append("")
    goals = []
    ok = True
    if bare_ins and iso_ins:
        def ratios(case: str, sizes: list[tuple[int, int, dict[str, float | None]]]) -> tuple[str, bool]:
            values = [(ins[case] or 0.0) / bare_ins for _, _, ins in sizes]
            iso = [(ins[case] or 0.0) / iso_ins for _, _, ins in sizes]
            met = max(values) <= TARGET
            text = " / ".join(f"{v:.2f}x" for v in values) + " (against `-I -S`: " + " / ".join(f"{v:.2f}x" for v in iso) + ")"
            return f"{text}: **{'met' if met else 'not met'}**", met
        small = [(n, dv, ins) for n, dv, _, _, ins in rows if n == dv]
        crowd = [(n, dv, ins) for n, dv, _, _, ins in rows if n != dv]
        peer = f"`{BARE}`: {bare_ins:.1f} M (`{ISOLATED}`: {iso_ins:.1f} M)"
        for case, what in (("active", "all units READY"), ("arriving", "last unit probing, policy runner handed off")):
            text, met = ratios(case, small)
            goals.append((f"hook ≤ {TARGET:g}x bare python, N = 1 / 4 / 16 / 64, {what} (instructions)", peer, text,
                          "deterministic", "-"))
            ok = ok and met
            if crowd:
                text, met = ratios(case, crowd)
                goals.append((f"same, 64 listed units among 127 xbus devices, {what}", peer, text, "deterministic", "-"))
                ok = ok and met
    walls = [med(wall["active"]) / med(wall[BARE]) for _, _, wall, _, _ in rows]
    cpus = [med(cpu["active"]) / med(cpu[BARE]) for _, _, _, cpu, _ in rows]
    goals.append((f"hook ≤ {TARGET:g}x bare python (whole process, all units READY)", f"`{BARE}`, interleaved",
                  "wall " + " / ".join(f"{v:.2f}x" for v in walls) + "; CPU " + " / ".join(f"{v:.2f}x" for v in cpus)
                  + " (N = 1, 4, 16, 64, 64 among 127)", "see results-hook.md", load_span(loads)))
    lines += [goal_table(goals), f"Target {'met' if ok else 'NOT met'} (instructions)."]
    text = "\n".join(lines) + "\n"
    Path(args.output).write_text(text)
    print(text)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
