"""Waking the prepared takeover runner (:func:`twinstar.fastpath.detach.wake_prepared`) with wrong files in state_dir.

Real FIFOs and files in a temporary state directory; the runner's read end
is held open by this test. Each call runs in a child process with a
timeout, so that a call that blocks fails the test instead of hanging it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from twinstar.fastpath.detach import PREPARED_FIFO, PREPARED_PID

CALL = "import json, sys; from twinstar.fastpath.detach import wake_prepared; print(json.dumps(wake_prepared(sys.argv[1])))"


def _wake(state_dir: Path) -> tuple[int | None, str | None]:
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, "-c", CALL, str(state_dir)], capture_output=True, text=True, timeout=20, cwd=root)
    assert proc.returncode == 0, proc.stderr
    pid, note = json.loads(proc.stdout)
    return pid, note


def _offered(state_dir: Path) -> int:
    """The runner's FIFO, mode 0600, with a read end open here."""
    fifo = state_dir / PREPARED_FIFO
    os.mkfifo(fifo, 0o600)
    fifo.chmod(0o600)
    return os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)


def test_a_fifo_where_the_pid_file_belongs_is_not_opened(tmp_path: Path) -> None:
    reader = _offered(tmp_path)
    try:
        os.mkfifo(tmp_path / PREPARED_PID, 0o600)
        pid, note = _wake(tmp_path)
        assert pid is None and note is not None and "unreadable" in note
        assert os.read(reader, 1) == b""  # nothing written: the runner is not woken
    finally:
        os.close(reader)


def test_the_pid_file_names_the_runner_that_is_woken(tmp_path: Path) -> None:
    reader = _offered(tmp_path)
    try:
        (tmp_path / PREPARED_PID).write_text("4242\n")
        assert _wake(tmp_path) == (4242, None)
        assert os.read(reader, 1) == b"1"
    finally:
        os.close(reader)
