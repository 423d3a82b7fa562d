"""A watchdog re-arm runs at lower priority than a takeover beside it.

Every ``online`` event re-arms its unit; those re-arms must not take CPU
from the takeover the last event starts. Inline (the daemon, the demo's
hooks) only the re-arming thread is lowered, and only while it re-arms.
Real threads and the real scheduler settings; nothing is replaced.
"""

from __future__ import annotations

import os
import threading

import pytest

from twinstar.hotplug import handoff


def niceness() -> int:
    return os.getpriority(os.PRIO_PROCESS, 0)


def test_lowering_is_for_the_calling_thread_only_and_is_undone() -> None:
    main_before = niceness()
    seen: dict[str, int | None] = {}

    def rearm_like() -> None:
        before = handoff.lower_priority(handoff.REARM_NICE)
        seen["before"] = before
        seen["during"] = niceness()
        seen["main_during"] = os.getpriority(os.PRIO_PROCESS, threading.main_thread().native_id or 0)
        handoff.restore_priority(before)
        seen["after"] = niceness()

    t = threading.Thread(target=rearm_like)
    t.start()
    t.join()
    assert seen["before"] == main_before
    assert seen["during"] == min(main_before + handoff.REARM_NICE, 19)
    assert seen["main_during"] == main_before
    assert niceness() == main_before
    if os.geteuid() == 0:  # raising the niceness back needs CAP_SYS_NICE
        assert seen["after"] == main_before


@pytest.mark.parametrize("start", [0, 15, 19])
def test_niceness_stays_within_the_kernels_range(start: int) -> None:
    if start < niceness() and os.geteuid() != 0:
        pytest.skip("lowering the niceness needs CAP_SYS_NICE")
    result: dict[str, int] = {}

    def run() -> None:
        os.setpriority(os.PRIO_PROCESS, 0, start)  # this thread only
        handoff.lower_priority(handoff.REARM_NICE)
        result["n"] = niceness()

    t = threading.Thread(target=run)
    t.start()
    t.join()
    assert result["n"] == min(start + handoff.REARM_NICE, 19)


#: What stands in for the re-arm: /proc/PID/cmdline is this argv once it has exec'd.
SLEEPER = "import time; time.sleep(120)"

SPAWNER = f"""
import os, sys
from twinstar.fastpath.detach import spawn_detached
pid = spawn_detached([sys.executable, "-c", {SLEEPER!r}], dict(os.environ), background=True)
print(pid, flush=True)
"""


def _wait_for_exec(pid: int, limit: float = 60.0) -> None:
    """Wait (at most ``limit`` s) until ``pid`` runs SLEEPER's argv: everything set before its exec is then in place.

    The spawner reports the pid as soon as the process is forked; the
    process sets its scheduling (policy, then its session's autogroup) and
    only then execs, at idle priority, so on a busy machine that may take a while.
    """
    import sys
    import time

    argv = b"\0".join(os.fsencode(a) for a in (sys.executable, "-c", SLEEPER)) + b"\0"
    deadline = time.monotonic() + limit
    while True:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            if f.read() == argv:
                return
        assert time.monotonic() < deadline, f"process {pid} did not exec within {limit:g} s"
        time.sleep(0.01)


def test_a_spawned_re_arm_lets_go_of_the_callers_output_and_only_gets_idle_cpu() -> None:
    """The caller (udev, reading the hook's stdout and stderr) must not wait for the
    detached re-arm; and the re-arm's own session must not compete with a takeover."""
    import signal
    import subprocess
    import sys

    # Were the caller's pipes held by the detached process, this would wait for it (and time out).
    caller = subprocess.run([sys.executable, "-c", SPAWNER], capture_output=True, text=True, timeout=60)
    assert caller.returncode == 0, caller.stderr
    pid = int(caller.stdout.split()[0])
    try:
        _wait_for_exec(pid)
        assert {os.readlink(f"/proc/{pid}/fd/{fd}") for fd in (0, 1, 2)} == {os.devnull}
        assert os.sched_getscheduler(pid) == os.SCHED_IDLE
        if os.path.exists(f"/proc/{pid}/autogroup"):
            with open(f"/proc/{pid}/autogroup") as f:
                assert f.read().split()[-1] == "19"
        assert os.getsid(pid) != os.getsid(0), "a session of its own"
    finally:
        os.kill(pid, signal.SIGKILL)
