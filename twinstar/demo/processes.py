"""Long-running helper processes of the demo: started detached, stopped by PID.

The program runner (:mod:`twinstar.engine.proc`) runs a program to completion; the
demo also needs processes that run alongside it (the client, the heartbeats,
the simulated hardware, address monitors). They get the same care: argv only,
their own session, a clean environment, output to a log file.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence

from twinstar.engine.proc import clean_env
from twinstar.fastpath.procid import process_alive


def spawn(argv: Sequence[str], *, log_path: str, env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            env=clean_env(env),
            cwd="/",
            start_new_session=True,
        )


def stop(proc: subprocess.Popen[bytes], *, grace: float = 2.0) -> int:
    """SIGTERM, then SIGKILL after ``grace``; the exit status."""
    if proc.poll() is None:
        try:
            proc.send_signal(signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def sigkill(pids: Iterable[int]) -> None:
    """SIGKILL each of ``pids`` (processes the demo started); one already gone is skipped."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def kill_pids(pids: Sequence[int], *, wait: float = 5.0) -> list[int]:
    """SIGKILL each of ``pids`` (processes the demo started) and wait until they are gone."""
    sigkill(pids)
    deadline = time.monotonic() + wait
    left = list(pids)
    while left and time.monotonic() < deadline:
        left = [p for p in left if process_alive(p)]
        if left:
            time.sleep(0.005)
    return left

