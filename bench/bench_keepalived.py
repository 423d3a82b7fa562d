"""keepalived side by side with twinstar's light demo: from "the failover is decided" to "the client is served".

Each round runs, one after the other (interleaved), a whole
``twinstar demo --json --stack light --scenario power-loss --units 1`` and two
keepalived failovers, and reports medians with their spread:

* twinstar: last unit READY on pbx-b -> the client's first answer from pbx-b
  (the demo's ``ready_to_answer_ms``; the responder's own start included);
* keepalived: the backup's master-down timer fires (its state change to
  MASTER, read from keepalived's ``notify_fifo``) -> the client's first
  answer from the new master, whose ``notify_master`` starts the same
  responder (``twinstar/demo/responder.py start``) as the demo's takeover;
* keepalived doing the same work: as above, but ``notify_master`` is a shell
  script that first does what twinstar's ``drbd`` step does before the
  responder, with the demo's parts (:class:`Replica`): ``drbdadm primary``
  (the demo's stand-in, its resident server and C client), ``fsck.ext4 -p`` and
  ``mount`` of an ext4 image of the demo's size on a loop device, then the
  responder with its data on the mount. The issue's goal compares with the
  first; this one tells how much of the difference is that work. DAHDI's
  registration has no counterpart (twinstar does it beside the ``drbd`` step).

The keepalived bed: Debian's keepalived, VRRPv3, ``advert_int`` ADVERT (default
0.01 s, the smallest it accepts), two routers and the demo's client
(``twinstar.demo.client``, a probe every 10 ms) in namespaces ``tsbp-ka-*``
on a bridge, addresses in 10.213.43.0/24, the virtual address
10.213.43.100. The power cut takes the master's link down. The cut to the
timer firing (detection: 3 x advert_int plus skew) is reported apart, like
the demo's watchdog. The FIFO is read by this process; its wake-up delay
under load moves keepalived's start mark later, so it can only flatter
keepalived.

Namespaces and every process in them, the mount and the loop device are
removed at the end, on failure and on Ctrl-C. Results go to
bench/results-keepalived.md. Needs root.

usage: sudo .venv/bin/python bench/bench_keepalived.py [--runs N] [--advert-int S]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
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

from twinstar.demo import processes, responder, servers  # noqa: E402
from twinstar.demo.cleanup import CleanupRegistry  # noqa: E402
from twinstar.engine.proc import ProgramRunner  # noqa: E402
from twinstar.errors import TwinstarError  # noqa: E402
from twinstar.standins import drbdadm  # noqa: E402

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


def keepalived_config(name: str, work: Path, advert: float, notify: str) -> Path:
    address, priority = ROUTERS[name]
    peer = next(a for r, (a, _) in ROUTERS.items() if r != name)
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


class Replica:
    """The light demo's replicated partition for the backup's ``notify_master``: the same ``drbdadm`` stand-in
    (its resident server and C client; the Python wrapper without a compiler), a loop-mounted ext4 image of
    the demo's size, and a script doing what twinstar's ``drbd`` step does, then starting the responder."""

    def __init__(self, work: Path) -> None:
        self.work = work / "replica"
        self.work.mkdir()
        self.mountpoint = self.work / "mnt"
        self.mountpoint.mkdir()
        self.drbdadm = self.work / "drbdadm"
        self.loop: str | None = None
        self.runner = ProgramRunner()
        self.cleanup = CleanupRegistry()  # the demo's parts' undo, newest first

    def set_up(self) -> None:
        """As the demo makes them (``twinstar.demo.servers``, ``twinstar.demo.scenario``)."""
        self.loop = servers.make_replica(str(self.work), self.runner, self.cleanup)
        state, socket = str(self.work / "drbd.json"), str(self.work / "drbdadm.sock")
        # As the demo's power loss leaves it: both Secondary, the dead peer disconnected.
        first, second = ROUTERS
        drbdadm.write_state(state, drbdadm.new_state(servers.RESOURCE, (first, second), connected=False, device=self.loop))
        server = processes.spawn(
            [sys.executable, "-m", "twinstar.standins.drbdadm", "--serve", socket, "--state", state],
            log_path=str(self.work / "drbdadm.log"),
        )
        self.cleanup.add("drbdadm stand-in", lambda: processes.stop(server))
        drbdadm.install(self.drbdadm, state, socket, "r2")

    def notify(self, work: Path) -> str:
        """``notify_master`` for r2: a shell script as keepalived-and-DRBD set-ups write it."""
        assert self.loop is not None
        q = shlex.quote
        device, mnt = q(self.loop), q(str(self.mountpoint))
        start = responder_argv("r2", work)
        start[start.index("--data") + 1] = str(self.mountpoint)
        script = self.work / "takeover.sh"
        script.write_text(
            "#!/bin/sh\n"
            "set -e\n"
            f"{q(str(self.drbdadm))} primary {servers.RESOURCE}\n"
            f"fsck.ext4 -p {device} || [ $? -eq 1 ]\n"
            f"mount -t ext4 -o defaults -- {device} {mnt}\n"
            f"exec {shlex.join(start)}\n"
        )
        return f"/bin/sh {script}"

    def tear_down(self) -> None:
        """After the namespaces' processes are gone (the responder runs from the mount): the mount, then the
        stand-in's server and the loop device."""
        try:
            servers.unmount_under(self.runner, str(self.work))
        except TwinstarError as e:
            print(f"bench_keepalived: {e}", file=sys.stderr)
        for failure in self.cleanup.run():
            print(f"bench_keepalived: {failure}", file=sys.stderr)


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


def keepalived_run(advert: float, *, alike: bool = False) -> dict[str, float]:
    """One keepalived failover in fresh namespaces: detection and timer -> served (ms). With ``alike``, the
    backup's ``notify_master`` first does what twinstar's ``drbd`` step does (:class:`Replica`)."""
    teardown(existing())
    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory(prefix="tsbp-ka-") as d:
        work = Path(d)
        replica = Replica(work) if alike else None
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
            if replica is not None:
                replica.set_up()
            for name in ROUTERS:  # r1 first: r2 starts while r1 is master, so r2 only ever was backup before the cut
                notify = replica.notify(work) if replica is not None and name == "r2" else " ".join(responder_argv(name, work))
                conf = keepalived_config(name, work, advert, notify)
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
            if replica is not None:
                replica.tear_down()


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
    alike: list[dict[str, float]] = []
    loads: list[float] = []
    flapped = 0

    def keepalived_again(**kwargs: bool) -> dict[str, float]:
        nonlocal flapped
        while True:
            try:
                return keepalived_run(args.advert_int, **kwargs)
            except Flapped as e:
                flapped += 1
                print(f"bench_keepalived: {e}; again", file=sys.stderr)
                if flapped > RETRIES:
                    raise

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
            theirs.append(keepalived_again())
            alike.append(keepalived_again(alike=True))
    except RuntimeError as e:
        print(f"bench_keepalived: {e}", file=sys.stderr)
        return 1
    finally:
        teardown(existing())
    served = [r["served"] for r in theirs]
    detection = [r["detection"] for r in theirs]
    same_work = [r["served"] for r in alike]
    met = statistics.median(ours) <= statistics.median(served)
    met_alike = statistics.median(ours) <= statistics.median(same_work)
    goal = goal_table([(
        "twinstar's part of a failover (light demo, last unit READY -> client served) at or below keepalived's",
        f"keepalived (VRRPv3, advert_int {args.advert_int:g} s), master-down timer -> served: "
        f"{statistics.median(served):.0f} ms",
        f"{statistics.median(ours):.0f} ms ({statistics.median(ours) - statistics.median(served):+.0f} ms): "
        f"**{'met' if met else 'not met'}**",
        f"{spread(ours)} vs {spread(served)}",
        load_span(loads),
    ), (
        "(ours, not the issue's) the same against keepalived doing the work twinstar's steps do before the "
        "responder (DRBD Primary, fsck, mount; not DAHDI, which twinstar does beside them)",
        f"keepalived, master-down timer -> `notify_master` script -> served: {statistics.median(same_work):.0f} ms",
        f"{statistics.median(ours):.0f} ms ({statistics.median(ours) - statistics.median(same_work):+.0f} ms): "
        f"**{'met' if met_alike else 'not met'}**",
        f"{spread(ours)} vs {spread(same_work)}",
        load_span(loads),
    )])  # fmt: skip
    text = "\n".join([
        "## Failover side by side with keepalived",
        "",
        f"{args.runs} rounds, each a twinstar light demo (power-loss, 1 unit, watchdog {args.watchdog_timeout} ms) then "
        f"two keepalived failovers (Debian's keepalived, VRRPv3, advert_int {args.advert_int:g} s, two routers, "
        "`notify_master` starting the demo's responder; in the second, a script that first does what twinstar's "
        "`drbd` step does, with the demo's `drbdadm` stand-in and an ext4 image of the demo's size: `drbdadm "
        "primary`, `fsck.ext4 -p`, `mount`, then starts the responder on the mount); the same client (a probe every "
        "10 ms). Median "
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
        f"| keepalived doing the drbd step's work (DRBD Primary, fsck, mount), then the responder: master-down "
        f"timer fires -> client served | {statistics.median(same_work):.0f} | {spread(same_work)} |",
        "",
        f"keepalived runs whose backup took over before the cut (run again): {flapped}.",
        "",
        f"Goal: twinstar's part at or below keepalived's: **{'met' if met else 'not met'}** "
        f"({statistics.median(ours) - statistics.median(served):+.0f} ms); at or below keepalived's doing the same "
        f"work: **{'met' if met_alike else 'not met'}** ({statistics.median(ours) - statistics.median(same_work):+.0f} ms).",
        "",
        f"The work before the PBX's start (DRBD Primary, fsck, mount) costs keepalived "
        f"{statistics.median(same_work) - statistics.median(served):+.0f} ms here. A takeover must do it before the "
        "PBX starts (its data is on the replica), and register the units with DAHDI, which only READY units allow: "
        "so its READY -> served is at least keepalived's with that work, and the first goal is out of reach for any "
        "takeover that does the work (docs/benchmarks.md). Beyond that work, twinstar's own part: "
        f"{statistics.median(ours) - statistics.median(same_work):+.0f} ms.",
        "",
        goal,
    ])  # fmt: skip
    Path(args.output).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
