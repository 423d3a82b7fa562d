"""The daemon as its own process for the benchmarks: its start, a role it reaches, its stop.

The process is the bench script again with ``--serve CONFIG SOCKET``: the
real event loop (:func:`serve`), its monitor the datagram socket of
tests/daemon/helpers.py's ``FakeMonitor`` at ``SOCKET``, which the daemon
reads as it reads netlink (which does not run here).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

#: How long the daemon may take to listen, or to reach a role (s).
WAIT = 30.0


def serve(config: str, address: str) -> int:
    """The daemon process: the real event loop, its monitor a datagram socket at ``address``."""
    from tests.daemon.helpers import FakeMonitor, make_daemon

    return make_daemon(Path(config), FakeMonitor(address)).run()


def start(script: str, config: Path, address: str, log: Path, prefix: Sequence[str] = ()) -> subprocess.Popen[bytes]:
    """``script --serve config address`` (after ``prefix``, e.g. ``ip netns exec NS``), its stderr to ``log``."""
    with open(log, "w") as err:
        return subprocess.Popen(
            [*prefix, sys.executable, script, "--serve", str(config), address],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
        )  # fmt: skip


def tail(log: Path) -> str:
    return log.read_text()[-2000:]


def await_socket(daemon: subprocess.Popen[bytes], address: str, log: Path, who: str) -> None:
    """Until the daemon listens at ``address``; if it ends or takes longer than :data:`WAIT`, exit with its log."""
    deadline = time.monotonic() + WAIT
    while not os.path.exists(address):
        if daemon.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"{who}: the daemon did not start: {tail(log)}")
        time.sleep(0.01)


def reach(daemon: subprocess.Popen[bytes], state_dir: Path, expected: str, log: Path, who: str) -> float:
    """Until the role in ``state_dir`` is ``expected``: that moment (monotonic); if the daemon ends or :data:`WAIT` passes, exit with its log."""
    from tests.daemon.helpers import role

    limit = time.monotonic() + WAIT
    while True:
        try:
            if role(state_dir) == expected:
                return time.monotonic()
        except (OSError, ValueError):
            pass  # not written yet
        if daemon.poll() is not None or time.monotonic() > limit:
            raise SystemExit(f"{who}: did not reach {expected}: {tail(log)}")
        time.sleep(0.001)


def stop(daemon: subprocess.Popen[bytes], wait: float) -> None:
    """SIGTERM to the daemon if it runs; killed if it has not ended within ``wait`` seconds."""
    if daemon.poll() is None:
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
