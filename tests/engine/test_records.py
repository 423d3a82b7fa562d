"""The JSON on disk matches its typed records: state.json's last transition and the journal's lines.

A key written but not declared (or declared but never written) fails here,
so the TypedDicts in twinstar/engine/records.py stay the description of what
is on disk.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.cli import run_twinstar
from tests.support.commands import command_steps_config
from tests.support.records import fits, keys_of, mismatch
from twinstar.engine import records

JOURNAL_LINES = (
    records.BeginLine, records.EndLine, records.RecoveryLine, records.PhaseLine, records.StepDownLine, records.PolicyLine,
)


def test_journal_lines_and_last_transition_match_their_records(tmp_path: Path) -> None:
    """A takeover whose second step fails (so its first is rolled back), then a release: every line fits one record."""
    config = command_steps_config(tmp_path, 2, behaviour={"start2": ["fail"]})
    assert run_twinstar(config, "takeover").returncode == 1
    assert run_twinstar(config, "release").returncode == 0
    lines = [json.loads(x) for x in (tmp_path / "state" / "journal.jsonl").read_text().splitlines()]
    assert {line.get("event", "phase") for line in lines} == {"begin", "end", "phase", "policy"}  # policy: the try counted
    assert any("error" in line for line in lines if "phase" in line)
    for line in lines:
        fitting = [r.__name__ for r in JOURNAL_LINES if fits(line, r)]
        assert len(fitting) == 1, f"journal line {line} fits {fitting or 'no record'}"
    state = json.loads((tmp_path / "state" / "state.json").read_text())
    transition = state["last_transition"]
    assert set(transition) == keys_of(records.Transition)[0], mismatch(transition, records.Transition)
    ends = [line for line in lines if line.get("event") == "end"]
    assert [end["action"] for end in ends] == ["takeover", "release"] and ends[0]["rollback"], "the takeover rolled nothing back"
    for ended in [transition, *ends]:
        for step in ended["steps"] + ended["rollback"]:
            assert set(step) == keys_of(records.StepJson)[0], mismatch(step, records.StepJson)
