"""Crash recovery, timeouts and concurrent takeovers, with real processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.cli import TWINSTAR, clean_environ, run_twinstar
from tests.support.commands import calls, command_steps_config
from twinstar.engine.proc import ProgramRunner
from twinstar.errors import ProgramTimeout
from twinstar.fastpath.procid import process_alive

# The programs twinstar runs in this process (tests/conftest.py fails any other).
pytestmark = pytest.mark.programs("recorder")


@pytest.mark.parametrize("next_action", ["takeover", "release"])
def test_takeover_killed_between_steps_is_completed_or_rolled_back(tmp_path: Path, next_action: str) -> None:
    """Step 2's start SIGKILLs the twinstar process after doing its work."""
    config = command_steps_config(tmp_path, 3, behaviour={"start2": ["kill-parent"]})
    crashed = run_twinstar(config, "takeover")
    assert crashed.returncode == -9
    state = json.loads((tmp_path / "state" / "state.json").read_text())
    assert state["role"] == "starting" and not process_alive(state["pid"])
    assert calls(tmp_path) == ["start1", "start2"]

    # The next run must not crash again: drop the kill from step 2.
    config = command_steps_config(tmp_path, 3)
    result = run_twinstar(config, next_action, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    how = "completing it" if next_action == "takeover" else "rolling it back"
    assert f"previous takeover (pid {state['pid']}) was interrupted; {how}" in report["recovered"]
    state = json.loads((tmp_path / "state" / "state.json").read_text())
    if next_action == "takeover":
        assert state["role"] == "active"
        assert calls(tmp_path) == ["start1", "start2", "start3"]
        assert all((tmp_path / f"up-{i}").exists() for i in (1, 2, 3))
    else:
        assert state["role"] == "standby"
        assert calls(tmp_path) == ["start1", "start2", "stop2", "stop1"]
        assert not any((tmp_path / f"up-{i}").exists() for i in (1, 2, 3))


@pytest.mark.parametrize("next_action", ["takeover", "release"])
def test_release_killed_between_steps_is_completed_or_reversed(tmp_path: Path, next_action: str) -> None:
    """Step 2's stop SIGKILLs the twinstar process after doing its work."""
    config = command_steps_config(tmp_path, 3, behaviour={"stop2": ["kill-parent"]})
    assert run_twinstar(config, "takeover").returncode == 0
    crashed = run_twinstar(config, "release")
    assert crashed.returncode == -9
    state = json.loads((tmp_path / "state" / "state.json").read_text())
    assert state["role"] == "stopping" and not process_alive(state["pid"])

    config = command_steps_config(tmp_path, 3)
    result = run_twinstar(config, next_action, "--json")
    assert result.returncode == 0, result.stderr
    how = "completing it" if next_action == "release" else "bringing every step up again"
    assert f"previous release (pid {state['pid']}) was interrupted; {how}" in json.loads(result.stdout)["recovered"]
    role = json.loads((tmp_path / "state" / "state.json").read_text())["role"]
    if next_action == "release":
        assert role == "standby"
        assert calls(tmp_path) == ["start1", "start2", "start3", "stop3", "stop2", "stop1"]
        assert not any((tmp_path / f"up-{i}").exists() for i in (1, 2, 3))
    else:
        assert role == "active"
        assert calls(tmp_path) == ["start1", "start2", "start3", "stop3", "stop2", "start2", "start3"]
        assert all((tmp_path / f"up-{i}").exists() for i in (1, 2, 3))


def _pids(path: Path) -> list[int]:
    return [int(p) for line in path.read_text().splitlines() for p in line.split()]


def test_program_ignoring_sigterm_is_killed_with_its_group(tmp_path: Path) -> None:
    from tests.support.commands import recorder_wrapper

    rec = recorder_wrapper(tmp_path)
    runner = ProgramRunner(grace=0.3)
    start = time.monotonic()
    with pytest.raises(ProgramTimeout) as err:
        runner.run([str(rec), str(tmp_path / "calls"), "x", "hang"], timeout=1.0)
    assert time.monotonic() - start < 10
    assert "did not finish within 1 s" in str(err.value)
    pids = _pids(tmp_path / "calls.pids")
    assert len(pids) == 2
    for pid in pids:
        assert not process_alive(pid), f"pid {pid} of the timed-out group survived"


def test_step_timeout_fails_the_step_and_rolls_back(tmp_path: Path) -> None:
    config = command_steps_config(tmp_path, 2, behaviour={"start2": ["hang"]})
    text = config.read_text().replace("timeout: 5", "timeout: 1")
    config.write_text(text)
    result = run_twinstar(config, "takeover", "--json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert "did not finish within 1 s" in report["error"]
    # start2 had created its up-file before it hung: its check says up, so it is stopped too.
    assert calls(tmp_path) == ["start1", "start2", "stop2", "stop1"]
    for pid in _pids(tmp_path / "calls.pids"):
        assert not process_alive(pid)


def test_concurrent_takeovers_never_run_a_step_twice(tmp_path: Path) -> None:
    config = command_steps_config(tmp_path, 3, behaviour={"start1": ["sleep", "0.5"]})
    procs = [
        subprocess.Popen([*TWINSTAR, "--config", str(config), "takeover", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_environ())
        for _ in range(6)
    ]
    outs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0] * 6, [o[1] for o in outs]
    assert calls(tmp_path) == ["start1", "start2", "start3"]
    changed = [json.loads(o[0])["changed"] for o in outs]
    assert changed.count(True) == 1


def test_second_takeover_gives_up_cleanly_after_lock_timeout(tmp_path: Path) -> None:
    config = command_steps_config(tmp_path, 1, behaviour={"start1": ["sleep", "3"]}, extra="lock_timeout: 0.5\n")
    first = subprocess.Popen([*TWINSTAR, "--config", str(config), "takeover"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=clean_environ())
    try:
        deadline = time.monotonic() + 10
        while not calls(tmp_path) and time.monotonic() < deadline:
            time.sleep(0.05)
        second = run_twinstar(config, "takeover")
        assert second.returncode == 1
        assert "another twinstar process holds" in second.stderr
        assert second.stderr.count("\n") <= 2 and "Traceback" not in second.stderr
    finally:
        first.wait(timeout=30)
    assert calls(tmp_path) == ["start1"]


def test_twinstar_hook_calling_convention(tmp_path: Path) -> None:
    config = command_steps_config(tmp_path, 2)
    env = clean_environ({"TWINSTAR_CONFIG": str(config)})
    hook = Path(__file__).resolve().parents[2] / "hooks" / "twinstar_hook"
    import sys

    on = subprocess.run([sys.executable, str(hook)], env={**env, "ACTION": "online"}, capture_output=True, text=True)
    assert on.returncode == 0, on.stderr
    assert calls(tmp_path) == ["start1", "start2"]
    off = subprocess.run([sys.executable, str(hook)], env={**env, "ACTION": "offline"}, capture_output=True, text=True)
    assert off.returncode == 0, off.stderr
    assert calls(tmp_path) == ["start1", "start2", "stop2", "stop1"]
    bad = subprocess.run([sys.executable, str(hook)], env={**env, "ACTION": "bind"}, capture_output=True, text=True)
    assert bad.returncode == 2
    assert "ACTION must be" in bad.stderr
    assert len(calls(tmp_path)) == 4


def test_sigterm_during_a_step_kills_its_program_group_and_rolls_back(tmp_path: Path) -> None:
    """SIGTERM to twinstar while step 2's program runs (and ignores SIGTERM itself)."""
    config = command_steps_config(tmp_path, 3, behaviour={"start2": ["hang"]})
    proc = subprocess.Popen([*TWINSTAR, "--config", str(config), "takeover", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_environ())
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / "calls.pids").exists():
            assert time.monotonic() < deadline and proc.poll() is None, "step 2 never started"
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        pids = _pids(tmp_path / "calls.pids") if (tmp_path / "calls.pids").exists() else []
        survivors = [pid for pid in pids if process_alive(pid)]
        for pid in survivors:
            os.kill(pid, signal.SIGKILL)
    assert proc.returncode == 1, err
    report = json.loads(out)
    assert report["error"] == "interrupted by SIGTERM"
    assert [(o["step"], o["result"]) for o in report["rollback"]] == [("command:s2", "undone"), ("command:s1", "undone")]
    # start2 had created its up-file before it hung: its check says up, so it is stopped too.
    assert calls(tmp_path) == ["start1", "start2", "stop2", "stop1"]
    assert len(pids) == 2
    assert survivors == [], "step 2's program group outlived the interrupted takeover"
    assert json.loads((tmp_path / "state" / "state.json").read_text())["role"] == "failed"
