"""Runs an ``ip`` step inside a network namespace for the tests.

Started as ``ip netns exec NS python ip_harness.py JSON``; JSON gives the
step's settings and the list of methods to call (``start_early``, then
``wait_early`` for the probe it started; ``start_ahead`` on a second step of
the same settings, as the daemon's, and ``wait_ahead``; ``dad_fresh`` sets
the age up to which a probe's answer stands, ``watch_limit`` how long a
probe not collected goes on (0: it ends after its ``dad_timeout``, so that
``wait_*`` returns then), ``descriptors`` for how many descriptors and ``packet_sockets`` for how many
packet sockets this process holds open; a list is a command line run in
between). Prints one JSON list with
what each call did (the command lines it ran, how many times it read the
interface, how many ARP frames it sent, and for a command line how long it took). The step is the production code, unchanged.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import marshal
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from twinstar.config import Config, IpSpec
from twinstar.engine.proc import ProgramResult, ProgramRunner
from twinstar.errors import TwinstarError
from twinstar.fastpath.hooksettings import HookSettings
from twinstar.net import dad
from twinstar.net.rawsock import ArpSocket
from twinstar.steps import ip_dad
from twinstar.steps.base import StepContext
from twinstar.steps.early import AHEAD
from twinstar.steps.ip import IpStep


@dataclass
class RecordingRunner(ProgramRunner):
    """The real runner, also noting each command line it ran."""

    ran: list[list[str]] = field(default_factory=list)

    def run(self, argv: Sequence[str], **kwargs: Any) -> ProgramResult:
        self.ran.append(list(argv))
        return super().run(argv, **kwargs)


def packet_sockets() -> int:
    """How many of this process's open descriptors are packet sockets (their inodes in /proc/net/packet)."""
    with open("/proc/net/packet") as f:
        inodes = {line.split()[-1] for line in list(f)[1:]}
    held = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue  # the listing's own descriptor, closed by now
        if target.startswith("socket:[") and target[8:-1] in inodes:
            held += 1
    return held


T = TypeVar("T")

#: How many times the step read the interface (twinstar.net.iproute.read_link), per call.
reads = [0]
#: How many duplicate-address probes it started (twinstar.net.dad.probe and .watch), per call.
probes = [0]
#: How many ARP frames this process sent (twinstar.net.rawsock.ArpSocket.send), per call.
sends = [0]


def counting(counter: list[int], function: Callable[..., T]) -> Callable[..., T]:
    """``function``, adding one to ``counter[0]`` at each call."""

    def counted(*args: Any, **kwargs: Any) -> T:
        counter[0] += 1
        return function(*args, **kwargs)

    return counted


def cmdline(pid: int) -> list[str]:
    """``pid``'s command line once its exec has set it up: Popen returns when the exec began, when the
    kernel shows an empty one for a moment (until then, it is read again)."""
    deadline = time.monotonic() + 30
    while True:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = [a.decode() for a in f.read().split(b"\0") if a]
        if argv or time.monotonic() > deadline:
            return argv
        time.sleep(0.001)


def main() -> int:
    req = json.loads(sys.argv[1])
    ip_dad.read_link = counting(reads, ip_dad.read_link)
    dad.probe = counting(probes, dad.probe)
    dad.watch = counting(probes, dad.watch)
    ArpSocket.send = counting(sends, ArpSocket.send)  # type: ignore[method-assign]
    if "dad_fresh" in req:
        ip_dad.DAD_FRESH = req["dad_fresh"]
    if "watch_limit" in req:
        ip_dad.WATCH_LIMIT = req["watch_limit"]
    runner = RecordingRunner()
    spec = IpSpec(address=ipaddress.IPv4Interface(req["address"]), interface=req["interface"], **req.get("options", {}))
    ctx = StepContext(config=Config(source="test", node="test", state_dir=req["state_dir"]), runner=runner)
    step = IpStep(spec, ctx)
    ahead_step = IpStep(spec, ctx)  # the daemon's own, built apart from the takeover's
    out = []
    early = None
    ahead = None
    for action in req["actions"]:
        entry: dict[str, object] = {"action": action}
        runner.ran.clear()
        reads[0] = probes[0] = sends[0] = 0
        if isinstance(action, list):  # a command line run between two calls of the step (e.g. in the peer namespace)
            began = time.monotonic()
            subprocess.run(action, check=True, capture_output=True, timeout=30)
            entry["sends"], entry["seconds"] = sends[0], time.monotonic() - began
            out.append(entry)
            continue
        try:
            if action == "start_early":
                early = step.start_early()
                entry["adopted"] = early is not None and early is ahead
            elif action == "start_ahead":
                started = ahead_step.start_ahead()
                entry["same"] = ahead is not None and started is ahead
                ahead = started
            elif action == "start_cached":  # the prepared runner's: from the hook's settings cache, as marshal keeps it
                config = dataclasses.replace(ctx.config, takeover=(spec,))
                cached = HookSettings(**marshal.loads(marshal.dumps(HookSettings.from_config(config).record())))
                entry["failures"] = ip_dad.start_cached(cached.ip_probes)
                ahead = AHEAD.offered(ip_dad.key(spec.interface, spec.address))
            elif action == "wait_ahead":
                assert ahead is not None
                ahead.wait()
            elif action == "wait_early":
                assert early is not None
                early.wait()
            elif action == "packet_sockets":
                entry["count"] = packet_sockets()
            elif action == "descriptors":
                entry["count"] = len(os.listdir("/proc/self/fd")) - 1  # less the listing's own
            elif action == "check":
                probe = step.check()
                entry.update(up=probe.up, detail=probe.detail)
            else:
                getattr(step, action)()
            entry["ok"] = True
        except TwinstarError as exc:
            entry.update(ok=False, error=str(exc), exit_status=int(exc.exit_status), type=type(exc).__name__)
        if step.announcer is not None:
            entry["announcer_pid"] = step.announcer.pid
            entry["announcer_argv"] = cmdline(step.announcer.pid)
            entry["announcer_running"] = step.announcer.poll() is None
        entry["ran"] = list(runner.ran)
        entry["reads"], entry["probes"], entry["sends"] = reads[0], probes[0], sends[0]
        entry["ahead_running"] = ahead is not None and ahead.running
        out.append(entry)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
