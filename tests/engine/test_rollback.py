"""Takeover, release and rollback of real command steps (real processes).

Each step runs tests/support/recorder.py, which logs its call and keeps a
marker file the step's check reads back.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.cli import run_twinstar
from tests.support.commands import calls, command_steps_config

N = 5


@pytest.mark.parametrize("k", range(1, N + 1))
def test_failure_at_step_k_undoes_k_minus_1_to_1_in_reverse(tmp_path: Path, k: int) -> None:
    config = command_steps_config(tmp_path, N, behaviour={f"start{k}": ["fail"]})
    result = run_twinstar(config, "takeover", "--json")
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    expected = [f"start{i}" for i in range(1, k + 1)] + [f"stop{i}" for i in range(k - 1, 0, -1)]
    assert calls(tmp_path) == expected
    assert [o["step"] for o in report["rollback"]] == [f"command:s{i}" for i in range(k - 1, 0, -1)]
    assert all(o["result"] == "undone" for o in report["rollback"])
    assert not any((tmp_path / f"up-{i}").exists() for i in range(1, N + 1))
    state = json.loads((tmp_path / "state" / "state.json").read_text())
    assert state["role"] == "failed"
    assert state["last_transition"]["result"] == "failed"


def test_takeover_then_idempotent_then_release(tmp_path: Path) -> None:
    config = command_steps_config(tmp_path, 3)
    first = run_twinstar(config, "takeover", "--json")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["role"] == "active"
    assert calls(tmp_path) == ["start1", "start2", "start3"]

    again = run_twinstar(config, "takeover", "--json")
    assert again.returncode == 0
    report = json.loads(again.stdout)
    assert report["changed"] is False
    assert {o["result"] for o in report["steps"]} == {"already"}
    assert calls(tmp_path) == ["start1", "start2", "start3"]

    release = run_twinstar(config, "release", "--json")
    assert release.returncode == 0, release.stderr
    assert calls(tmp_path)[3:] == ["stop3", "stop2", "stop1"]
    assert json.loads((tmp_path / "state" / "state.json").read_text())["role"] == "standby"

    idle = run_twinstar(config, "release", "--json")
    assert idle.returncode == 0
    assert json.loads(idle.stdout)["changed"] is False
    assert len(calls(tmp_path)) == 6


def test_release_runs_every_undo_even_when_one_fails(tmp_path: Path) -> None:
    config = command_steps_config(tmp_path, 3, behaviour={"stop2": ["fail"]})
    assert run_twinstar(config, "takeover").returncode == 0
    result = run_twinstar(config, "release", "--json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert [(o["step"], o["result"]) for o in report["steps"]] == [
        ("command:s3", "undone"),
        ("command:s2", "failed"),
        ("command:s1", "undone"),
    ]
    assert "stop2" in report["error"] or "s2" in report["error"]
    assert calls(tmp_path)[3:] == ["stop3", "stop2", "stop1"]
    assert json.loads((tmp_path / "state" / "state.json").read_text())["role"] == "failed"


def test_journal_has_one_line_per_step_event(tmp_path: Path) -> None:
    config = command_steps_config(tmp_path, 2)
    assert run_twinstar(config, "takeover").returncode == 0
    lines = [json.loads(x) for x in (tmp_path / "state" / "journal.jsonl").read_text().splitlines()]
    phases = [(r["step"], r["phase"], r["result"]) for r in lines if "step" in r]
    assert ("command:s1", "apply", "started") in phases
    assert ("command:s1", "apply", "ok") in phases
    assert ("command:s2", "verify", "ok") in phases
    ends = [r for r in lines if r.get("event") == "end"]
    assert ends and ends[-1]["result"] == "ok"
    for r in lines:
        if r.get("phase") and r["result"] != "started":
            assert r["end"] >= r["start"]


def test_dry_run_changes_nothing(tmp_path: Path) -> None:
    config = command_steps_config(tmp_path, 3)
    before = sorted(p.name for p in tmp_path.iterdir())
    result = run_twinstar(config, "takeover", "--dry-run", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["dry_run"] is True
    assert [o["result"] for o in report["steps"]] == ["would-apply"] * 3
    assert calls(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no state_dir, no markers

    assert run_twinstar(config, "takeover").returncode == 0
    state_before = (tmp_path / "state" / "state.json").read_bytes()
    journal_before = (tmp_path / "state" / "journal.jsonl").read_bytes()
    result = run_twinstar(config, "release", "--dry-run")
    assert result.returncode == 0
    assert "would undo" in result.stdout
    assert all((tmp_path / f"up-{i}").exists() for i in (1, 2, 3))
    assert (tmp_path / "state" / "state.json").read_bytes() == state_before
    assert (tmp_path / "state" / "journal.jsonl").read_bytes() == journal_before
