"""Crash campaign: SIGKILL a takeover or a release at every program call, then check that it converges.

The takeover has a ``drbd`` step (real ext4 on a loop device, really
mounted; ``drbdadm`` is the stand-in twinstar.standins.drbdadm, since the
DRBD kernel module cannot load here), an ``ip`` step (a veth pair in a
network namespace the test creates; twinstar runs in it with ``nsenter
--net``, so the mount stays in the host's mount namespace) and three
``command`` steps (two keep their own record, one has a ``check``) whose
"service" is a file that start creates and stop removes.

Every program twinstar runs goes through a small sh wrapper (``programs:``
points drbdadm, mount, umount, fsck.ext4 and ip at them; the command
steps run one directly; the ip step runs no program, it changes its
interface over rtnetlink, so it is killed at the calls of the steps around it) that counts the calls and, at call N, SIGKILLs
twinstar's process group before or after running the real program. A clean
takeover and release first give the number of calls; then for every N and
both kill points, a trial crashes the run at N and goes on with "release"
or with "takeover, then release". Each trial must converge: everything up
after a takeover (DRBD Primary and mounted, the address, every service),
everything down after a release (DRBD Secondary, nothing mounted, no
address, no service, no record left), and no command step's start ever runs
while its service is already up. One namespace, loop device and filesystem
serve every trial; the state is reset in between. A kill before call N+1
leaves much what a kill after call N leaves, so the two follow-ups alternate
with N.

The drbd step runs with ``fsck: never``: on a host whose mounts are private
(no shared propagation), a mount namespace that any other process creates
while the filesystem is mounted keeps a copy of the mount after our umount,
and e2fsck then refuses the device ("in use", exit 8). fsck itself is
tested in tests/steps/test_drbd.py.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.cli import clean_environ
from tests.support.rigs import loop_volume, mounted_on, run
from twinstar.standins import drbdadm

pytestmark = pytest.mark.privileged

REPO = Path(__file__).resolve().parents[2]
ADDRESS = "10.213.50.10/24"
IFACE = "tscr0"
SERVICES = ("c1", "c2", "c3")
WITH_CHECK = "c2"
WRAPPED = ("drbdadm", "mount", "umount", "fsck.ext4", "ip")

#: Counting and the kill, shared by every wrapper (sh builtins only: one call costs about a millisecond).
#: twinstar runs each program in a session of its own, so the wrapper survives the kill of twinstar's group.
#: A takeover runs its steps' checks concurrently: each call takes its number by creating ``tick.N``
#: (noclobber: O_EXCL, so two calls never get the same one; ``true``, not the special builtin ``:``, whose
#: failed redirection would end the shell); ``count`` is only where to start looking.
COUNT = """
ctl={ctl}
read n < "$ctl/count"; n=$((${{n:-0}} + 1))
set -C; until true 2>/dev/null > "$ctl/tick.$n"; do n=$((n + 1)); done; set +C
echo "$n" > "$ctl/count"
echo "$n $0 $*" >> "$ctl/calls"
read at when < "$ctl/kill"
kill_twinstar() {{ read -r s < /proc/$PPID/stat; set -- ${{s##*) }}; kill -9 "-$3"; }}
if [ "$n" = "$at" ] && [ "$when" = before ]; then kill_twinstar; exit 137; fi
"""

PROGRAM = """#!/bin/sh
{count}
{real} "$@"
rc=$?
if [ "$n" = "$at" ] && [ "$when" = after ]; then kill_twinstar; fi
exit $rc
"""

# A command step's "service": start records a violation when it is already up.
SERVICE = """#!/bin/sh
{count}
up={svc}/$1.up
case "$2" in
start) [ -e "$up" ] && echo "$1 started while up" >> {svc}/violations; : > "$up"; rc=0 ;;
stop) rm -f "$up"; rc=0 ;;
check) [ -e "$up" ]; rc=$? ;;
esac
if [ "$n" = "$at" ] && [ "$when" = after ]; then kill_twinstar; fi
exit $rc
"""


@dataclass
class Rig:
    tmp: Path
    netns: str
    device: str
    mountpoint: Path
    drbd_state: Path
    config: Path

    @property
    def ctl(self) -> Path:
        return self.tmp / "ctl"

    @property
    def svc(self) -> Path:
        return self.tmp / "svc"

    @property
    def state_dir(self) -> Path:
        return self.tmp / "state"

    def twinstar(self, action: str, kill_at: int = 0, when: str = "none") -> subprocess.CompletedProcess[str]:
        """Run ``twinstar ACTION`` in the namespace, killed at program call ``kill_at``."""
        (self.ctl / "count").write_text("0\n")
        for tick in self.ctl.glob("tick.*"):
            tick.unlink()
        (self.ctl / "calls").write_text("")
        (self.ctl / "kill").write_text(f"{kill_at} {when}\n")
        argv = ["nsenter", f"--net=/run/netns/{self.netns}", sys.executable, "-m", "twinstar", "--config", str(self.config), action]
        return subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=REPO, env=clean_environ(), start_new_session=True)

    def calls(self) -> int:
        return len(list(self.ctl.glob("tick.*")))

    def role(self) -> str:
        return str(drbdadm.read_state(self.drbd_state)["resources"]["r0"]["nodes"]["pbx-a"]["role"])

    def addresses(self) -> list[str]:
        data = json.loads(run("ip", "-n", self.netns, "-j", "addr", "show", "dev", IFACE))
        return [f"{a['local']}/{a['prefixlen']}" for a in data[0]["addr_info"] if a["family"] == "inet"]

    def services_up(self) -> list[str]:
        return [s for s in SERVICES if (self.svc / f"{s}.up").exists()]

    def violations(self) -> str:
        path = self.svc / "violations"
        return path.read_text() if path.exists() else ""

    def node_role(self) -> str:
        return str(json.loads((self.state_dir / "state.json").read_text())["role"])

    def records(self) -> list[str]:
        return sorted(p.name for p in self.state_dir.iterdir() if p.name.startswith("command-"))

    def reset(self) -> None:
        """Everything down and forgotten, without twinstar."""
        for _ in range(5):
            if not mounted_on(self.mountpoint):
                break
            run("umount", str(self.mountpoint))
        drbdadm.write_state(self.drbd_state, drbdadm.new_state("r0", ("pbx-a", "pbx-b"), device=self.device))
        run("ip", "-n", self.netns, "addr", "flush", "dev", IFACE)
        shutil.rmtree(self.svc, ignore_errors=True)
        self.svc.mkdir()
        shutil.rmtree(self.state_dir, ignore_errors=True)

    def problems(self, want_up: bool) -> list[str]:
        """How the system differs from all up (or all down); empty when it converged."""
        found = []
        if self.role() != ("Primary" if want_up else "Secondary"):
            found.append(f"DRBD {self.role()}")
        if mounted_on(self.mountpoint) != want_up:
            found.append("mounted" if not want_up else "not mounted")
        if (ADDRESS in self.addresses()) != want_up:
            found.append(f"addresses {self.addresses()}")
        up = self.services_up()
        if up != (list(SERVICES) if want_up else []):
            found.append(f"services up: {up}")
        if not want_up and self.records():
            found.append(f"records left: {self.records()}")
        role = self.node_role()
        if role != ("active" if want_up else "standby"):
            found.append(f"role {role}")
        if self.violations():
            found.append(self.violations().strip())
        return found


def _write_wrappers(tmp: Path, ctl: Path, svc: Path) -> dict[str, Path]:
    count = COUNT.format(ctl=ctl)
    bindir = tmp / "bin"
    bindir.mkdir()
    paths = {}
    for name in WRAPPED:
        real = tmp / "drbdadm-standin" if name == "drbdadm" else shutil.which(name)
        assert real is not None, name
        path = bindir / name
        path.write_text(PROGRAM.format(count=count, real=real))
        path.chmod(0o755)
        paths[name] = path
    service = bindir / "service"
    service.write_text(SERVICE.format(count=count, svc=svc))
    service.chmod(0o755)
    paths["service"] = service
    return paths


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    tmp = tmp_path_factory.mktemp("crash")
    netns = f"tscr-{os.getpid()}"
    run("ip", "netns", "add", netns)
    try:
        run("ip", "-n", netns, "link", "add", IFACE, "type", "veth", "peer", "name", "tscr1")
        for iface in ("lo", IFACE, "tscr1"):
            run("ip", "-n", netns, "link", "set", iface, "up")
        with loop_volume(tmp) as volume:
            ctl = tmp / "ctl"
            ctl.mkdir()
            drbd_state = tmp / "drbd.json"
            drbdadm.write_wrapper(tmp / "drbdadm-standin", drbd_state, "pbx-a")
            paths = _write_wrappers(tmp, ctl, tmp / "svc")
            (tmp / "xpp_order").write_text("")
            programs = ", ".join(f"{name}: {paths[name]}" for name in WRAPPED)
            commands = []
            for name in SERVICES:
                argv = [str(paths["service"]), name]
                check = f", check: {json.dumps([*argv, 'check'])}" if name == WITH_CHECK else ""
                commands.append(
                    f"  - command: {{name: {name}, start: {json.dumps([*argv, 'start'])}, "
                    f"stop: {json.dumps([*argv, 'stop'])}{check}, timeout: 10}}"
                )
            config = tmp / "twinstar.yaml"
            config.write_text(
                f"""node: pbx-a
state_dir: {tmp / "state"}
astribanks: {{sysfs: {tmp}, xpp_order: {tmp / "xpp_order"}}}
programs: {{{programs}}}
takeover:
  - drbd: {{resource: r0, device: {volume.device}, mountpoint: {volume.mountpoint}, fsck: never, kill_grace: 0.5, timeout: 10}}
  - ip: {{address: {ADDRESS}, interface: {IFACE}, arp_count: 1, dad_timeout: 0}}
"""
                + "\n".join(commands)
                + "\n"
            )
            config.chmod(0o644)
            r = Rig(tmp, netns, volume.device, volume.mountpoint, drbd_state, config)
            try:
                yield r
            finally:
                r.reset()
    finally:
        subprocess.run(["ip", "netns", "del", netns], capture_output=True, timeout=30)


def _check(rig: Rig, trial: str, action: str, want_up: bool, failures: list[str]) -> bool:
    result = rig.twinstar(action)
    problems = ([] if result.returncode == 0 else [f"{action} exited {result.returncode}: {result.stderr.strip()}"])
    problems += rig.problems(want_up)
    if problems:
        failures.append(f"{trial}, then {action}: {'; '.join(problems)}")
    return not problems


def test_every_crash_point_converges(rig: Rig) -> None:
    started = time.monotonic()
    rig.reset()
    assert rig.twinstar("takeover").returncode == 0 and rig.problems(want_up=True) == []
    takeover_calls = rig.calls()
    assert rig.twinstar("release").returncode == 0 and rig.problems(want_up=False) == []
    release_calls = rig.calls()
    # Every step ran its programs through the wrappers (the ip step runs none: it reads and changes its interface
    # in-process; the drbd step reads the mount table in-process): drbd's role, primary or secondary, mount or umount
    # and role again, each command step's start or stop, and c2's check at the start and in verify.
    assert takeover_calls >= 9 and release_calls >= 9

    failures: list[str] = []
    trials = finished = 0
    for crashed, total in (("takeover", takeover_calls), ("release", release_calls)):
        for when in ("before", "after"):
            for n in range(1, total + 1):
                # Killed before call n+1 is much like killed after call n: they get different follow-ups.
                then = ("release",) if n % 2 else ("takeover", "release")
                trials += 1
                trial = f"{crashed} killed {when} call {n}"
                rig.reset()
                if crashed == "release":
                    assert rig.twinstar("takeover").returncode == 0
                killed = rig.twinstar(crashed, n, when)
                if killed.returncode == 0 and rig.calls() < n:
                    finished += 1  # fewer calls than the first run made (none here so far): nothing to kill
                elif killed.returncode != -9:
                    failures.append(f"{trial}: exit {killed.returncode} after {rig.calls()} calls: {killed.stderr.strip()}")
                    continue
                for action in then:
                    if not _check(rig, trial, action, action == "takeover", failures):
                        break
    elapsed = time.monotonic() - started
    print(
        f"crash campaign: {trials} trials ({takeover_calls} takeover and {release_calls} release program calls, "
        f"{finished} runs not reaching their kill point) in {elapsed:.0f} s"
    )
    assert finished < trials // 2
    assert failures == [], f"{len(failures)} of {trials} trials did not converge:\n" + "\n".join(failures)
