"""Orchestration in daemon mode: last unit READY -> the PBX service step starts, the whole path in one process.

The daemon runs as its own process in network namespace ``tsor-dm-a``: the
event loop of ``twinstar daemon`` (:class:`twinstar.daemon.loop.Daemon`,
the hook's decision code and the engine, in-process) over a fake sysfs tree,
with the light demo's steps where they run here: ``dahdi`` (``dahdi_cfg``
``/bin/true``, as the demo), ``ip`` (the demo's values: ``dad_timeout:
0.03``, ``arp_count: 3``, ``arp_interval: 0.2``) on a veth whose peer (in
``tsor-dm-b``) gives the carrier and answers for nobody, then the service
step, ``command:pbx``, whose start is ``touch`` of a marker file. The demo's
``drbd`` step is left out (it needs a loop device, a mount and the
``drbdadm`` stand-in): its time is reported from the light demo. What stands
in for the Astribank driver and its netlink socket (neither runs here): the
fake sysfs (:class:`twinstar.standins.fakesysfs.FakeSysfs`, its DAHDI side
driven every 5 ms by a thread here, as the demo's simulated driver does) and
the datagram socket of tests/daemon/helpers.py's ``FakeMonitor``, which the
daemon reads as it reads netlink.

Each round: the unit arrives (READY in sysfs, then its ``add`` and ``online``
events); the orchestration is that moment -> the marker's modification time
(``touch`` has run: one program start after the service step began), wall
clock. Then the unit departs and the daemon must end ``standby``, untimed.
The files (``state_dir``, the fake sysfs, the marker) are on a tmpfs
(``/dev/shm``), as the default ``state_dir`` ``/run/twinstar`` and sysfs are:
on a disk, each ``fsync`` of ``state.json`` or ``handoff.json`` costs what
the disk and the other writers make it (``--on-disk`` measures that).
Namespaces are removed at the end, on failure and on Ctrl-C. Results go to
bench/results-daemon.md. Needs root.

usage: sudo .venv/bin/python bench/bench_daemon.py [--runs N]
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
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:0] = [str(HERE), str(REPO)]

import served  # noqa: E402
from netns import veth_pair  # noqa: E402
from timing import goal_table, load, load_span, spread  # noqa: E402

NODE, PEER = "tsor-dm-a", "tsor-dm-b"
ADDRESS = "10.213.63.200/24"
GOAL_MS = 40
#: How often the stand-in driver acts on what was written to the fake sysfs (the demo's hardware loop: 5 ms).
DRIVE = 0.005
#: A tmpfs for the files, as the default state_dir (/run/twinstar) and sysfs are in memory.
TMPFS = "/dev/shm"


def steps(tmp: Path) -> str:
    marker = tmp / "pbx-started"
    return (
        "  - dahdi: {dahdi_cfg: [/bin/true], timeout: 10}\n"
        f"  - ip: {{address: {ADDRESS}, interface: eth0, arp_count: 3, arp_interval: 0.2, dad_timeout: 0.03}}\n"
        f"  - command: {{name: pbx, start: [/usr/bin/touch, {marker}], stop: [/bin/rm, -f, {marker}],"
        f" check: [/usr/bin/test, -e, {marker}], timeout: 10}}\n"
    )


def files_dir(on_disk: bool) -> str | None:
    """Where the bench's files go: a tmpfs, as ``/run/twinstar`` is (None: the default temporary directory)."""
    return None if on_disk or not os.path.isdir(TMPFS) else TMPFS


def dahdi_split(journal: str, registrations: list[float]) -> dict[str, list[float]]:
    """Each takeover's dahdi apply split at the stand-in driver's registration (ms): before it (the write,
    then the stand-in's reaction: in the kernel the write returns registered), and after it (twinstar seeing
    the device, the spans, ``dahdi_cfg``, its record); and the takeover's begin -> the service step's apply."""
    lines = [json.loads(line) for line in journal.splitlines() if line.strip()]
    out: dict[str, list[float]] = {"to_registered": [], "after": [], "begin_to_service": []}
    for begin in (x for x in lines if x.get("event") == "begin" and x.get("action") == "takeover"):
        phases = {(x["step"], x["phase"], x["result"]): x for x in lines if x.get("run") == begin["run"] and "step" in x}
        apply = phases.get(("dahdi", "apply", "ok"))
        service = phases.get(("command:pbx", "apply", "started"))
        if apply is None or service is None:
            continue
        registered = [t for t in registrations if apply["start"] <= t <= apply["end"]]
        if registered:
            out["to_registered"].append((registered[0] - apply["start"]) * 1000)
            out["after"].append((apply["end"] - registered[0]) * 1000)
        out["begin_to_service"].append((service["start"] - begin["ts"]) * 1000)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--output", default=str(HERE / "results-daemon.md"))
    parser.add_argument("--on-disk", action="store_true", help="the files in the default temporary directory, not on a tmpfs")
    parser.add_argument("--keep-journal", metavar="PATH", help="copy the daemon's journal there (where the time goes)")
    parser.add_argument("--serve", nargs=2, metavar=("CONFIG", "SOCKET"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        return served.serve(*args.serve)
    if os.geteuid() != 0:
        print("bench_daemon: needs root (namespaces, addresses in them)", file=sys.stderr)
        return 2
    from tests.daemon.helpers import sysfs, write_config
    from tests.support import units

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    orchestration: list[float] = []
    loads: list[float] = []
    with veth_pair(NODE, PEER, "10.213.63.201/24", "10.213.63.202/24"), tempfile.TemporaryDirectory(prefix="tsor-dm-", dir=files_dir(args.on_disk)) as d:
        tmp = Path(d)
        fake = sysfs(tmp)
        config = write_config(tmp, 1, steps=steps(tmp))
        marker = tmp / "pbx-started"
        address = str(tmp / "events")
        log = tmp / "daemon.log"
        daemon = served.start(str(Path(__file__).resolve()), config, address, log, prefix=("ip", "netns", "exec", NODE))
        driving = True
        registrations: list[float] = []  # when the stand-in driver registered a unit with DAHDI (wall clock)
        hardware = threading.Lock()  # the stand-in driver acts between, never during, a unit's arrival or departure

        def drive() -> None:
            while driving:
                with hardware:
                    done = fake.drive()
                registrations.extend(time.time() for line in done if line.startswith("registered"))
                time.sleep(DRIVE)

        driver = threading.Thread(target=drive, name="stand-in driver", daemon=True)
        driver.start()
        sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)

        def reach(expected: str) -> None:
            served.reach(daemon, tmp / "state", expected, log, "bench_daemon")

        try:
            served.await_socket(daemon, address, log, "bench_daemon")
            sender.connect(address)
            reach("standby")
            for i in range(args.runs):
                loads.append(os.getloadavg()[0])
                with hardware:
                    arrival = units.arrive(fake, 0)
                t0 = time.time()  # READY in sysfs from here on; its events follow at once
                for env in arrival:
                    sender.send(json.dumps(env).encode())
                reach("active")
                orchestration.append((marker.stat().st_mtime - t0) * 1000)
                print(f"bench_daemon: round {i + 1}/{args.runs}: {orchestration[-1]:.1f} ms", file=sys.stderr)
                with hardware:
                    departure = fake.depart(0)
                for env in departure:
                    sender.send(json.dumps(env).encode())
                reach("standby")
            journal = (tmp / "state" / "journal.jsonl").read_text()
            if args.keep_journal:
                Path(args.keep_journal).write_text(journal)
            split = dahdi_split(journal, registrations)
        finally:
            driving = False
            sender.close()
            served.stop(daemon, 30)
    median = statistics.median(orchestration)
    met = median <= GOAL_MS
    text = "\n".join([
        "## Orchestration in daemon mode",
        "",
        f"The daemon's event loop (in-process: decision, engine, steps) over a fake sysfs tree, with the light "
        f"demo's `dahdi`, `ip` (its values) and a service step whose start is `touch` of a marker; the demo's "
        f"`drbd` step is left out (see the docstring). Files (`state_dir`, fake sysfs) "
        f"{'on disk' if files_dir(args.on_disk) is None else 'on a tmpfs, as `/run/twinstar`'}. "
        f"{args.runs} rounds; last unit READY -> the service step's "
        f"program has run, median (interquartile range) in ms; {os.cpu_count()} CPUs, load (1 min) "
        f"{load_span(loads)} during the runs, {load()} at the end. "
        "Reproduce: `sudo .venv/bin/python bench/bench_daemon.py`.",
        "",
        "| figure | median (ms) | interquartile range | min–max |",
        "|---|---:|---:|---:|",
        f"| daemon: last unit READY -> service step started (dahdi, ip) | {median:.1f} | {spread(orchestration)} | "
        f"{min(orchestration):.1f}–{max(orchestration):.1f} |",
        *(
            f"| {label} | {statistics.median(split[key]):.1f} | {spread(split[key])} | "
            f"{min(split[key]):.1f}–{max(split[key]):.1f} |"
            for key, label in (
                ("begin_to_service", "of which the takeover's begin -> the service step's apply (journal)"),
                ("to_registered", "dahdi apply: its start -> the stand-in driver registered the unit (stand-in)"),
                ("after", "dahdi apply: registered -> the step's apply ends (twinstar, dahdi_cfg)"),
            )
            if split[key]
        ),
        "",
        goal_table([(
            f"orchestration in daemon mode ≤ {GOAL_MS} ms (without the drbd step)",
            f"{GOAL_MS} ms",
            f"{median:.1f} ms: **{'met' if met else 'not met'}**",
            spread(orchestration),
            load_span(loads),
        )]),
    ])  # fmt: skip
    Path(args.output).write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
