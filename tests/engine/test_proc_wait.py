"""Waiting for a program: woken by its exit (pidfd), not by polling; real processes."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from twinstar.engine.proc import wait_exit


def test_exit_status_is_returned_and_the_process_reaped(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    real_sleep = time.sleep
    monkeypatch.setattr(time, "sleep", lambda s: (slept.append(s), real_sleep(s)))
    proc = subprocess.Popen(["sh", "-c", "sleep 0.2; exit 3"])
    assert wait_exit(proc, 10.0) == 3
    assert proc.returncode == 3 and not os.path.exists(f"/proc/{proc.pid}")
    assert slept == []  # Popen.wait(timeout) would have slept in a polling loop


def test_a_program_outliving_the_timeout_raises_and_is_left_to_the_caller() -> None:
    proc = subprocess.Popen(["sleep", "30"])
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            wait_exit(proc, 0.1)
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait()
