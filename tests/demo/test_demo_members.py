"""Finding every process of a demo run: the cgroup, and the namespace/ancestry scan it falls back to.

Real processes, a real cgroup v2 directory and a real network namespace; nothing stands in.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from tests.demo.leftovers import snapshot
from twinstar.demo.members import DemoProcesses, cgroup2_mounts, own_cgroup
from twinstar.demo.processes import sigkill
from twinstar.demo.topology import in_netns

#: Forks a child and exits, over and over: its PID changes every few milliseconds, so a list of
#: PIDs (or a scan of /proc) is stale before it is used. Every generation holds the write end of
#: a pipe (fd argv[1]); the reader sees end-of-file once the last one is gone.
HOPPER = (
    "import os, sys, time\nos.write(int(sys.argv[1]), b'x')\n"
    "while True:\n    time.sleep(0.001)\n    if os.fork():\n        os._exit(0)\n"
)
#: Forks a child that sleeps in a session of its own and exits: the child is nobody's descendant.
DAEMON = "import os, time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(600)\n"


def pids_with(marker: str) -> list[int]:
    return [pid for pid, cmd in snapshot().processes if marker in cmd]


def wait_for(marker: str) -> list[int]:
    deadline = time.monotonic() + 30
    while not (found := pids_with(marker)):
        assert time.monotonic() < deadline, f"no process with {marker} started"
        time.sleep(0.01)
    return found


def daemon(marker: str, argv_prefix: list[str] | None = None) -> int:
    """A detached sleeper (marked by ``marker`` in its command line); its pid."""
    subprocess.run([*(argv_prefix or []), sys.executable, "-c", DAEMON, marker], check=True, timeout=30)
    (pid,) = wait_for(marker)
    return pid


@pytest.fixture
def bystander() -> Iterator[int]:
    """A process the demo did not start, outside its namespaces and not its descendant."""
    marker = f"tsdemo-test-bystander-{os.getpid()}"
    pid = daemon(marker)
    yield pid
    sigkill(pids_with(marker))


@pytest.fixture
def netns() -> Iterator[str]:
    """A network namespace of the test's own (named like the demo's, so a leftover would be seen)."""
    ns = f"tsdemo-test-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True, timeout=30)
    yield ns
    subprocess.run(["ip", "netns", "del", ns], timeout=30)


@pytest.mark.privileged
def test_the_cgroup_ends_a_process_that_keeps_forking_away_and_nothing_else(bystander: int, netns: str) -> None:
    """The hopper runs in a demo namespace, detached, as a takeover's PBX would."""
    if not cgroup2_mounts():
        pytest.skip("no cgroup v2 hierarchy is mounted here; the demo uses the namespace scan (tested below)")
    home = own_cgroup()
    members = DemoProcesses.enter(f"tsdemo-test-{os.getpid()}", (netns,))
    read, write = os.pipe()
    try:
        assert members.group is not None, "cgroup v2 is mounted but the demo could not make a cgroup"
        group = members.group
        argv = in_netns(netns, [sys.executable, "-c", HOPPER, str(write)])
        hopper = subprocess.Popen(argv, pass_fds=(write,), start_new_session=True)
        os.close(write)
        assert os.read(read, 1) == b"x"  # started
        members.kill_all()
        hopper.wait(timeout=10)
        ready, _, _ = select.select([read], [], [], 30)
        assert ready and os.read(read, 1) == b"", "a generation of the hopper is still running"
        assert own_cgroup() == home
        members.remove()
        assert not os.path.exists(group)
    finally:
        if members.group is not None:
            members.remove()
        os.close(read)
    os.kill(bystander, 0)  # still there


@pytest.mark.privileged
def test_the_namespace_scan_ends_detached_processes_in_the_namespaces_and_descendants(
    bystander: int, netns: str
) -> None:
    inside, child = f"tsdemo-test-inside-{os.getpid()}", f"tsdemo-test-child-{os.getpid()}"
    try:
        members = DemoProcesses((netns,))  # no cgroup: the fallback
        assert members.method == "namespace scan"
        daemon(inside, in_netns(netns, []))
        sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", child])
        wait_for(child)
        members.kill_all()
        assert pids_with(inside) == [] and pids_with(child) == []
        assert sleeper.wait(timeout=10) == -signal.SIGKILL
    finally:
        sigkill(pids_with(inside) + pids_with(child))
    os.kill(bystander, 0)  # still there
