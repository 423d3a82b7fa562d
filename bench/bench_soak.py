"""Soak: the daemon fed 10,000 uevents and 1,000 takeover/release cycles; its resources and orchestration over time.

The daemon runs as its own process: the event loop of ``twinstar daemon``
(:class:`twinstar.daemon.loop.Daemon`, the hook's decision code, the engine
and two command steps, ``handoff: inline``) over a fake sysfs tree. What
stands in for the Astribank driver and its netlink socket (neither runs
here): the fake sysfs (:class:`twinstar.standins.fakesysfs.FakeSysfs`) and
the datagram socket of tests/daemon/helpers.py's ``FakeMonitor``, which the
daemon reads as it reads netlink.

Each cycle: both listed units arrive (add, online each) and the daemon must
end ``active``; two more ``online`` events of a unit already READY (nothing
to do); both units depart (offline, remove each) and it must end
``standby``: 10 uevents a cycle. After each cycle the daemon's resident
memory, open file descriptors and child processes are read from /proc.
The orchestration of a cycle is the last unit READY (in sysfs, its events
sent right after) -> the node's state reading ``active`` (polled every
millisecond). Bounded in time (``--max-seconds``); a cycle not ending in the
expected role within 30 s fails the benchmark. Results go to bench/results-soak.md.

usage: .venv/bin/python bench/bench_soak.py [--cycles N] [--quick] [--max-seconds S]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:0] = [str(HERE), str(REPO)]

import served  # noqa: E402
from timing import goal_table, load, load_span, spread  # noqa: E402

UNITS = 2
EVENTS_PER_CYCLE = 10


def resources(pid: int) -> dict[str, int]:
    """Resident memory (KiB), open fds and child processes of ``pid``."""
    with open(f"/proc/{pid}/status") as f:
        rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    children = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as f:
            children += len(f.read().split())
    return {"rss": rss, "fds": len(os.listdir(f"/proc/{pid}/fd")), "children": children}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="100 cycles (a smoke test, not results)")
    parser.add_argument("--max-seconds", type=float, default=1500)
    parser.add_argument("--output", default=str(HERE / "results-soak.md"))
    parser.add_argument("--serve", nargs=2, metavar=("CONFIG", "SOCKET"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        return served.serve(*args.serve)
    from tests.daemon.helpers import sysfs, write_config
    from tests.support import units

    cycles = 100 if args.quick else args.cycles
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    at_start: dict[str, int] = {}
    samples: list[dict[str, int]] = []
    loads = [os.getloadavg()[0]]
    orchestration: list[float] = []
    sent = 0
    stopped_early = False
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="tsbp-soak-") as d:
        tmp = Path(d)
        fake = sysfs(tmp)
        config = write_config(tmp, UNITS)
        address = str(tmp / "events")
        log = tmp / "daemon.log"
        daemon = served.start(str(Path(__file__).resolve()), config, address, log)
        sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            served.await_socket(daemon, address, log, "bench_soak")
            sender.connect(address)

            def send(env: dict[str, str]) -> None:
                nonlocal sent
                sender.send(json.dumps(env).encode())
                sent += 1

            def reach(expected: str) -> float:
                return served.reach(daemon, tmp / "state", expected, log, f"bench_soak: cycle {len(orchestration) + 1}")

            reach("standby")
            at_start = resources(daemon.pid)
            for cycle in range(cycles):
                if time.monotonic() - start > args.max_seconds:
                    stopped_early = True
                    break
                for i in range(UNITS):
                    t0 = time.monotonic()  # the last one's: it is READY in sysfs from here on
                    for env in units.arrive(fake, i):
                        send(env)
                orchestration.append((reach("active") - t0) * 1000)
                for _ in range(EVENTS_PER_CYCLE - 4 * UNITS):
                    send(fake.online(0))
                for i in range(UNITS):
                    for env in fake.depart(i):
                        send(env)
                reach("standby")
                samples.append(resources(daemon.pid))
                if cycle % 100 == 99:
                    loads.append(os.getloadavg()[0])
                    print(f"bench_soak: {cycle + 1} cycles, {sent} uevents, {samples[-1]}", file=sys.stderr)
        finally:
            sender.close()
            served.stop(daemon, 60)
    elapsed = time.monotonic() - start
    done = len(orchestration)
    tenth = max(1, done // 10)
    first, last = statistics.median(orchestration[:tenth]), statistics.median(orchestration[-tenth:])

    def flat(key: str) -> str:
        values = [s[key] for s in samples]
        return f"{values[0]} / {values[-1]} / {max(values)}"

    def row(key: str, name: str) -> str:
        values = [s[key] for s in samples]
        return f"| {name} | {at_start[key]} | {values[0]} | {values[-1]} | {max(values)} |"

    goal = goal_table([(
        f"soak: the daemon over {done} takeover/release cycles, {sent} uevents: resources flat, every cycle in the "
        "expected role, orchestration not drifting",
        "its own first cycles",
        f"RSS KiB {flat('rss')}, fds {flat('fds')}, children {flat('children')} (after the first cycle / the last / max); "
        f"orchestration {first:.1f} -> {last:.1f} ms (first / last tenth)",
        f"orchestration {spread(orchestration[:tenth])} vs {spread(orchestration[-tenth:])}",
        load_span(loads),
    )])  # fmt: skip


    text = "\n".join([
        f"## Soak (the daemon, {done:,} takeover/release cycles)",
        "",
        f"One daemon process (the event loop of `twinstar daemon`, two command steps, a fake sysfs and a datagram "
        f"socket standing in for the driver and netlink): {done} cycles, {sent} uevents in {elapsed:.0f} s"
        f"{' (stopped at the time bound)' if stopped_early else ''}; every cycle ended active, then standby. "
        f"{os.cpu_count()} CPUs, load average (1/5/15 min) {load()} at the end. "
        "Reproduce: `.venv/bin/python bench/bench_soak.py`.",
        "",
        "| daemon process | at its start | after the first cycle | after the last | max after a cycle |",
        "|---|---:|---:|---:|---:|",
        row("rss", "resident memory (KiB)"),
        row("fds", "open file descriptors"),
        row("children", "child processes"),
        "",
        "| orchestration (last unit READY -> role active, ms) | median |",
        "|---|---:|",
        f"| first tenth of the cycles | {first:.1f} |",
        f"| last tenth of the cycles | {last:.1f} |",
        "",
        goal,
    ])  # fmt: skip
    Path(args.output).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
