"""Last unit READY -> service active, under a real systemd: the ``systemd`` hand-off next to ``spawn``,
each with and without the prepared takeover runner.

One node boots systemd as PID 1 in an nspawn container on an overlay of
``/`` (tests/support/nspawn.py), twinstar installed inside by ``make
install``. The takeover has one step, ``service: bench-pbx.service``
(``manager: systemd``, a ``Type=notify`` unit that reports READY at once).
Each run: the node is standby with its units listed and all but the last
READY; an event of one of those (the installed hook, entered into the
container with nsenter) gets the prepared takeover runner ready
(``twinstar-prepared.service`` under ``systemd``, a detached process under
``spawn``), as the units' arrival does on a real node, seconds before the
last one is READY. For the rows without it, that runner is stopped again
before the clock starts. The clock starts, the last unit goes READY and its
``online`` event runs the hook; the clock stops at the service's
``ActiveEnterTimestampMonotonic`` (systemd's own time stamp, on the same
monotonic clock). The four kinds of run alternate, so drift hits all alike.
Results go to bench/results-systemd.md.

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
#: Each mode with its prepared runner used, and stopped before the clock starts.
KINDS = tuple((mode, prepared) for mode in MODES for prepared in (False, True))
STATE = "/run/twinstar"
PREPARED = "twinstar-prepared.service"


def runner_ready(node: Node) -> int:
    """The prepared runner's pid once it waits on its FIFO."""
    node.wait_until(
        "the prepared runner",
        lambda: node.read(f"{STATE}/prepared.pid") is not None and node.run(["test", "-p", f"{STATE}/prepared.fifo"]).returncode == 0,
        timeout=120,
    )
    return int(node.read(f"{STATE}/prepared.pid") or "0")


def prepare(node: Node, mode: str, units: int, prepared: bool) -> dict[str, str]:
    """Standby, ``units`` listed, all but the last READY (that one probing), a runner prepared or stopped again;
    the last one's online event."""
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
    # An arriving unit's event: it writes the hook's configuration cache and gets the runner ready.
    warm = node.hook(fs.event("online", 0))
    if "waiting for the listed units" not in warm.stderr:
        raise SystemExit(f"bench set-up is wrong: {warm.stderr}")
    pid = runner_ready(node)
    if not prepared:
        if mode == "systemd":
            node.systemctl("stop", PREPARED, check=True)
        else:
            node.run(["kill", str(pid)], check=True)
        node.wait_until("the runner's end", lambda: node.run(["test", "-d", f"/proc/{pid}"]).returncode != 0)
    return fs.event("online", units - 1)


def once(node: Node, mode: str, prepared: bool, units: int) -> float:
    event = prepare(node, mode, units, prepared)
    start = time.monotonic()
    node.sysfs.set_state(units - 1, "READY")
    hook = subprocess.run(node.command([f"{HOOKDIR}/atribank_hook"], event), capture_output=True, text=True, check=False)
    if hook.returncode != 0 or "handed off" not in hook.stderr or ("prepared" in hook.stderr) != prepared:
        raise SystemExit(f"{mode}, prepared {prepared}: the hook did not hand off as expected: {hook.stderr}")
    node.wait_until("the service", lambda: node.prop(SERVICE, "ActiveState") == "active", timeout=120)
    active = int(node.prop(SERVICE, "ActiveEnterTimestampMonotonic")) / 1e6
    return active - start


def label(mode: str, prepared: bool) -> str:
    return f"{mode}, {'prepared runner woken' if prepared else 'no runner'}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--units", type=int, default=4)
    parser.add_argument("--output", default=str(HERE / "results-systemd.md"))
    args = parser.parse_args()
    times: dict[tuple[str, bool], list[float]] = {k: [] for k in KINDS}
    with boot_nodes(1) as (node,):
        node.write(f"/etc/systemd/system/{SERVICE}", UNIT)
        node.systemctl("daemon-reload", check=True)
        once(node, *KINDS[0], args.units)  # warm the page cache
        for _ in range(args.runs):
            for kind in KINDS:
                times[kind].append(once(node, *kind, args.units))
    lines = [
        "## Hand-off under a real systemd",
        "",
        f"Last unit READY -> `{SERVICE}` active (systemd's ActiveEnterTimestamp), {args.units} listed units, "
        f"median (min–max) of {args.runs} runs per kind, interleaved; systemd as PID 1 in an nspawn container; "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, load (1 min) {os.getloadavg()[0]:.1f} at the end. "
        "Reproduce: `sudo .venv/bin/python bench/bench_systemd.py`.",
        "`systemd`: the hook wakes `twinstar-prepared.service` or runs `systemctl start --no-block twinstar-takeover.service`; "
        "`spawn`: the hook wakes the detached prepared runner or forks a detached `python -m twinstar.cli.handoff_runner`. "
        "The runner was got ready by an earlier unit's event in every run, and stopped again for the rows without it.",
        "",
        "| hand-off | READY -> service active (ms) |",
        "|---|---:|",
    ]
    for kind in KINDS:
        t = [x * 1000 for x in times[kind]]
        lines.append(f"| {label(*kind)} | {statistics.median(t):.0f} ({min(t):.0f}–{max(t):.0f}) |")
    text = "\n".join(lines) + "\n"
    Path(args.output).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
