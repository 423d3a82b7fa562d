"""Last unit READY -> service active, under a real systemd: the ``systemd`` hand-off next to ``spawn``.

One node boots systemd as PID 1 in an nspawn container on an overlay of
``/`` (tests/support/nspawn.py), twinstar installed inside by ``make
install``. The takeover has one step, ``service: bench-pbx.service``
(``manager: systemd``, a ``Type=notify`` unit that reports READY at once).
Each run: the node is standby with its units listed and all but the last
READY; the clock starts, the last unit goes READY and its ``online`` event
runs the installed hook (a whole process, entered into the container with
nsenter); the clock stops at the service's ``ActiveEnterTimestampMonotonic``
(systemd's own time stamp, on the same monotonic clock). The two hand-offs
alternate run by run, so drift hits both alike. Results go to
bench/results-systemd.md.

usage: sudo .venv/bin/python bench/bench_systemd.py [--runs N] [--units N]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from tests.support.nspawn import HOOKDIR, Node, boot_nodes  # noqa: E402

SERVICE = "bench-pbx.service"
UNIT = "[Service]\nType=notify\nNotifyAccess=all\nExecStart=/bin/sh -c 'systemd-notify --ready; exec sleep infinity'\n"
MODES = ("systemd", "spawn")


def prepare(node: Node, mode: str, units: int) -> dict[str, str]:
    """Standby, ``units`` listed, all but the last READY (that one probing); the last one's online event."""
    node.systemctl("stop", SERVICE, check=True)
    node.reset()
    node.configure(f"  - service: {{name: {SERVICE}, manager: systemd, timeout: 60}}\n", handoff=mode, units=units)
    fs = node.sysfs
    for i in range(units):
        fs.create_unit(i)
        fs.attach(i, label=f"usb:{i:08d}", connector=f"usb-0000:00:1d.7-{i}")
        if i < units - 1:
            fs.online(i)
    fs.set_state(units - 1, "RECVD_DESC")
    # Warm the hook's configuration cache with an event that hands nothing off.
    warm = node.hook(fs.event("online", 0))
    if "waiting for the listed units" not in warm.stderr:
        raise SystemExit(f"bench set-up is wrong: {warm.stderr}")
    return fs.event("online", units - 1)


def once(node: Node, mode: str, units: int) -> float:
    event = prepare(node, mode, units)
    start = time.monotonic()
    node.sysfs.set_state(units - 1, "READY")
    hook = subprocess.run(node.command([f"{HOOKDIR}/atribank_hook"], event), capture_output=True, text=True, check=False)
    if hook.returncode != 0 or "handed off" not in hook.stderr:
        raise SystemExit(f"{mode}: the hook did not hand off: {hook.stderr}")
    node.wait_until("the service", lambda: node.prop(SERVICE, "ActiveState") == "active", timeout=120)
    active = int(node.prop(SERVICE, "ActiveEnterTimestampMonotonic")) / 1e6
    return active - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--units", type=int, default=4)
    parser.add_argument("--output", default=str(HERE / "results-systemd.md"))
    args = parser.parse_args()
    times: dict[str, list[float]] = {m: [] for m in MODES}
    with boot_nodes(1) as (node,):
        node.write(f"/etc/systemd/system/{SERVICE}", UNIT)
        node.systemctl("daemon-reload", check=True)
        once(node, MODES[0], args.units)  # warm the page cache
        for _ in range(args.runs):
            for mode in MODES:
                times[mode].append(once(node, mode, args.units))
    lines = [
        "## Hand-off under a real systemd",
        "",
        f"Last unit READY -> `{SERVICE}` active (systemd's ActiveEnterTimestamp), {args.units} listed units, "
        f"median (min–max) of {args.runs} runs per hand-off, interleaved; systemd as PID 1 in an nspawn container; "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}. Reproduce: `sudo .venv/bin/python bench/bench_systemd.py`.",
        "`systemd`: the hook runs `systemctl start --no-block twinstar-takeover.service`; "
        "`spawn`: the hook starts a detached `python -m twinstar.cli.handoff_runner`.",
        "",
        "| hand-off | READY -> service active (ms) |",
        "|---|---:|",
    ]
    for mode in MODES:
        t = [x * 1000 for x in times[mode]]
        lines.append(f"| {mode} | {statistics.median(t):.0f} ({min(t):.0f}–{max(t):.0f}) |")
    text = "\n".join(lines) + "\n"
    Path(args.output).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
