"""keepalived side by side with twinstar's light demo: from "the failover is decided" to "the client is served".

Each round runs, one after the other (interleaved), a whole
``twinstar demo --json --stack light --scenario power-loss --units 1`` and a
keepalived failover, and reports medians with their spread:

* twinstar: last unit READY on pbx-b -> the client's first answer from pbx-b
  (the demo's ``ready_to_answer_ms``; the responder's own start included);
* keepalived: the backup's master-down timer fires (its state change to
  MASTER, read from keepalived's ``notify_fifo``) -> the client's first
  answer from the new master, whose ``notify_master`` starts the same
  responder (``twinstar/demo/responder.py start``) as the demo's takeover.

The keepalived bed: Debian's keepalived, VRRPv3, ``advert_int`` ADVERT (default
0.01 s, the smallest it accepts), two routers and the demo's client
(``twinstar.demo.client``, a probe every 10 ms) in namespaces ``tsbp-ka-*``
on a bridge, addresses in 10.213.43.0/24, the virtual address
10.213.43.100. The power cut takes the master's link down. The cut to the
timer firing (detection: 3 x advert_int plus skew) is reported apart, like
the demo's watchdog. The FIFO is read by this process; its wake-up delay
under load moves keepalived's start mark later, so it can only flatter
keepalived.

Namespaces and every process in them are removed at the end, on failure and
on Ctrl-C. Results go to bench/results-keepalived.md. Needs root.

usage: sudo .venv/bin/python bench/bench_keepalived.py [--runs N] [--advert-int S]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_demo import one_run, service_turn_ms  # noqa: E402
from netns import add, ip, listed, teardown  # noqa: E402
from timing import goal_table, load, load_span, spread  # noqa: E402

from twinstar.demo import responder  # noqa: E402

PREFIX = "tsbp-ka-"
SWITCH = PREFIX + "sw"
CLIENT = PREFIX + "client"
ROUTERS = {"r1": ("10.213.43.1", 200), "r2": ("10.213.43.2", 100)}
CLIENT_ADDRESS = "10.213.43.10"
VIP = "10.213.43.100"
PORT = 5060


def namespaces() -> list[str]:
    return [SWITCH, CLIENT, *(PREFIX + r for r in ROUTERS)]


def existing() -> list[str]:
    return [ns for ns in listed() if ns.startswith(PREFIX)]


def build() -> None:
    for ns in namespaces():
        add(ns)
    ip("-n", SWITCH, "link", "add", "br0", "type", "bridge")
    ip("-n", SWITCH, "link", "set", "br0", "up")
    hosts = {CLIENT: CLIENT_ADDRESS, **{PREFIX + r: a for r, (a, _) in ROUTERS.items()}}
    for i, (ns, address) in enumerate(hosts.items()):
        port = f"p{i}"
        ip("-n", SWITCH, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns)
        ip("-n", SWITCH, "link", "set", port, "master", "br0", "up")
        ip("-n", ns, "addr", "add", f"{address}/24", "dev", "eth0")
        ip("-n", ns, "link", "set", "eth0", "up")


def responder_argv(name: str, work: Path) -> list[str]:
    data = work / name
    data.mkdir(exist_ok=True)
    return [
        *responder.command(), "start", "--address", VIP, "--port", str(PORT),
        "--name", name, "--pidfile", str(data / "responder.pid"), "--data", str(data),
    ]  # fmt: skip


def keepalived_config(name: str, work: Path, advert: float) -> Path:
    address, priority = ROUTERS[name]
    peer = next(a for r, (a, _) in ROUTERS.items() if r != name)
    notify = " ".join(responder_argv(name, work))
    text = f"""global_defs {{
    router_id {name}
    script_user root
    vrrp_version 3
    notify_fifo {work / name / "fifo"}
    vrrp_garp_master_delay 0
    vrrp_garp_master_repeat 1
}}
vrrp_instance VI_1 {{
    state BACKUP
    interface eth0
    virtual_router_id 43
    priority {priority}
    advert_int {advert}
    unicast_src_ip {address}
    unicast_peer {{
        {peer}
    }}
    virtual_ipaddress {{
        {VIP}/24 dev eth0
    }}
    notify_master "{notify}"
}}
"""
    path = work / f"{name}.conf"
    path.write_text(text)
    return path


class Flapped(RuntimeError):
    """The backup took over while the master was still up (the machine's load delayed advertisements)."""


#: Rounds whose keepalived run flapped are run again, at most this many times in all.
RETRIES = 5


class Fifo(threading.Thread):
    """Reads keepalived's notify FIFO; the wall-clock time of each state line."""

    def __init__(self, path: Path) -> None:
        super().__init__(daemon=True)
        os.mkfifo(path)
        self.path = path
        self.states: list[tuple[float, str]] = []
        self.changed = threading.Condition()

    def run(self) -> None:
        with open(self.path) as f:  # keepalived opens it for writing at its start
            for line in f:
                with self.changed:
                    self.states.append((time.time(), line.split()[2] if len(line.split()) > 2 else line.strip()))
                    self.changed.notify_all()

    def wait_for(self, state: str, after: float, timeout: float) -> float:
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                for t, s in self.states:
                    if s == state and t >= after:
                        return t
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RuntimeError(f"keepalived never reached {state} ({self.path}: {self.states})")
                self.changed.wait(left)


def probes(path: Path) -> list[dict[str, Any]]:
    try:
        return [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")]
    except FileNotFoundError:
        return []


def wait_served(path: Path, by: str, after: float, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        served = [p["t"] for p in probes(path) if p["by"] == by and p["t"] >= after]
        if served:
            return float(min(served))
        time.sleep(0.05)
    raise RuntimeError(f"the client was not served by {by} within {timeout} s")


def flapped(backup: Fifo, advert: float, before: float | None = None) -> None:
    """Raise :class:`Flapped` if the backup was master (before ``before``)."""
    with backup.changed:
        flaps = [s for t, s in backup.states if s == "MASTER" and (before is None or t < before)]
    if flaps:
        raise Flapped(f"r2 became master before the cut ({len(flaps)} times): advert_int {advert:g} too short here")


def keepalived_run(advert: float) -> dict[str, float]:
    """One keepalived failover in fresh namespaces: detection and timer -> served (ms)."""
    teardown(existing())
    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory(prefix="tsbp-ka-") as d:
        work = Path(d)
        try:
            build()
            fifos = {}
            for name in ROUTERS:
                (work / name).mkdir()
                fifos[name] = Fifo(work / name / "fifo")
                fifos[name].start()
            client_log = work / "client.jsonl"
            procs.append(subprocess.Popen(
                ["ip", "netns", "exec", CLIENT, sys.executable, "-m", "twinstar.demo.client", "--address", VIP,
                 "--port", str(PORT), "--out", str(client_log)],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))  # fmt: skip
            started = time.time()
            for name in ROUTERS:  # r1 first: r2 starts while r1 is master, so r2 only ever was backup before the cut
                conf = keepalived_config(name, work, advert)
                procs.append(subprocess.Popen(
                    ["ip", "netns", "exec", PREFIX + name, "keepalived", "--vrrp", "--dont-fork", "--log-console",
                     "--use-file", str(conf), "--pid", str(work / name / "k.pid"), "--vrrp_pid", str(work / name / "v.pid")],
                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))  # fmt: skip
                if name == "r1":
                    wait_served(client_log, "r1", started, 15)
            fifos["r2"].wait_for("BACKUP", started, 5)
            time.sleep(0.5)  # settled: a few hundred advertisements without a change
            flapped(fifos["r2"], advert)
            cut = time.time()
            ip("-n", PREFIX + "r1", "link", "set", "eth0", "down")
            fired = fifos["r2"].wait_for("MASTER", cut, 5)
            served = wait_served(client_log, "r2", cut, 10)
            flapped(fifos["r2"], advert, before=cut)
            return {"detection": (fired - cut) * 1000, "served": (served - fired) * 1000}
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            teardown(existing())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--advert-int", type=float, default=0.01, metavar="S")
    parser.add_argument("--watchdog-timeout", type=int, default=500, metavar="MS")
    parser.add_argument("--output", default=str(HERE / "results-keepalived.md"))
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("bench_keepalived: needs root (namespaces, keepalived, the demo)", file=sys.stderr)
        return 2
    if shutil.which("keepalived") is None:
        print("bench_keepalived: no keepalived on PATH (Debian: apt-get install keepalived)", file=sys.stderr)
        return 2
    if existing():
        print(f"bench_keepalived: namespaces {PREFIX}* exist (another run?): {' '.join(existing())}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    ours: list[float] = []
    orchestration: list[float] = []
    theirs: list[dict[str, float]] = []
    loads: list[float] = []
    flapped = 0
    try:
        for i in range(args.runs):
            print(f"bench_keepalived: round {i + 1}/{args.runs}", file=sys.stderr)
            loads.append(os.getloadavg()[0])
            result = one_run("power-loss", 1, args.watchdog_timeout)
            turn = service_turn_ms(result)
            if result.get("ready_to_answer_ms") is None or turn is None:
                raise SystemExit(f"bench_keepalived: the demo gave no READY -> served figure: {result['problems']}")
            ours.append(result["ready_to_answer_ms"])
            orchestration.append(turn)
            while True:
                try:
                    theirs.append(keepalived_run(args.advert_int))
                    break
                except Flapped as e:
                    flapped += 1
                    print(f"bench_keepalived: {e}; again", file=sys.stderr)
                    if flapped > RETRIES:
                        raise
    except RuntimeError as e:
        print(f"bench_keepalived: {e}", file=sys.stderr)
        return 1
    finally:
        teardown(existing())
    served = [r["served"] for r in theirs]
    detection = [r["detection"] for r in theirs]
    met = statistics.median(ours) <= statistics.median(served)
    goal = goal_table([(
        "twinstar's part of a failover (light demo, last unit READY -> client served) at or below keepalived's",
        f"keepalived (VRRPv3, advert_int {args.advert_int:g} s), master-down timer -> served: "
        f"{statistics.median(served):.0f} ms",
        f"{statistics.median(ours):.0f} ms ({statistics.median(ours) - statistics.median(served):+.0f} ms): "
        f"**{'met' if met else 'not met'}**",
        f"{spread(ours)} vs {spread(served)}",
        load_span(loads),
    )])  # fmt: skip
    text = "\n".join([
        "## Failover side by side with keepalived",
        "",
        f"{args.runs} rounds, each a twinstar light demo (power-loss, 1 unit, watchdog {args.watchdog_timeout} ms) then "
        f"a keepalived failover (Debian's keepalived, VRRPv3, advert_int {args.advert_int:g} s, two routers, "
        "`notify_master` starting the demo's responder); the same client (a probe every 10 ms). Median "
        f"(interquartile range) in ms; {os.cpu_count()} CPUs, load (1 min) {load_span(loads)} during "
        f"the rounds, {load()} at the end. Reproduce: `sudo .venv/bin/python bench/bench_keepalived.py`.",
        "",
        "| figure | median (ms) | interquartile range |",
        "|---|---:|---:|",
        f"| twinstar: last unit READY -> client served | {statistics.median(ours):.0f} | {spread(ours)} |",
        f"| twinstar: of which last unit READY -> the service step's turn (orchestration) "
        f"| {statistics.median(orchestration):.0f} | {spread(orchestration)} |",
        f"| keepalived: master-down timer fires -> client served | {statistics.median(served):.0f} | {spread(served)} |",
        f"| keepalived: power cut -> master-down timer fires (detection) | {statistics.median(detection):.0f} | {spread(detection)} |",
        "",
        f"keepalived runs whose backup took over before the cut (run again): {flapped}.",
        "",
        f"Goal: twinstar's part at or below keepalived's: **{'met' if met else 'not met'}** "
        f"({statistics.median(ours) - statistics.median(served):+.0f} ms).",
        "",
        goal,
    ])  # fmt: skip
    Path(args.output).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
