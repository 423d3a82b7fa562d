"""Concurrent groups (``- parallel: [...]``) in the engine, in this process with fake steps.

The steps are the only stand-ins (``tests.engine.scripted``: they touch
nothing and answer from scripts). The members of a group meet at a barrier in
their apply: run one after the other, the first would wait there alone and the
barrier would break (the test fails). The engine, its journal and
``state.json`` are the production code. No program runs.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from tests.engine.scripted import Call, Rig, rig, short
from twinstar.engine.runner import stages
from twinstar.engine.state import NodeState, Role
from twinstar.errors import ExitStatus, StepError


def results(outcomes: tuple[object, ...]) -> list[tuple[str, str, str | None]]:
    return [(short(o.step), o.result.value, o.group) for o in outcomes]  # type: ignore[attr-defined]


def up_calls(*, meet: bool = True) -> list[Call]:
    return [Call("check"), Call("apply", meet=meet), Call("verify")]


GROUP = "command:a+command:b+command:c"


def test_stages_put_a_groups_members_together_and_leave_the_other_steps_alone(tmp_path: Path) -> None:
    r = rig(tmp_path, "s1", "a", "b", "s2", groups=(("a", "b"),))
    assert [[short(s.name) for s in stage] for stage in stages(r.engine.steps, r.engine.config.groups)] == [["s1"], ["a", "b"], ["s2"]]


def test_a_group_comes_up_concurrently_between_the_steps_around_it(tmp_path: Path) -> None:
    r = rig(tmp_path, "s1", "a", "b", "c", "s2", groups=(("a", "b", "c"),))
    r.book.expect(3, s1=up_calls(meet=False), a=up_calls(), b=up_calls(), c=up_calls(), s2=up_calls(meet=False))
    report = r.engine.takeover()
    r.book.assert_done()
    assert report.ok, report.error
    assert results(report.steps) == [("s1", "done", None), ("a", "done", GROUP), ("b", "done", GROUP), ("c", "done", GROUP), ("s2", "done", None)]
    calls = r.book.calls()
    assert calls[:3] == ["s1.check", "s1.apply", "s1.verify"] and calls[-3:] == ["s2.check", "s2.apply", "s2.verify"]
    for member in "abc":  # each member: check, apply, verify, in its own order
        assert [c for c in calls if c.startswith(f"{member}.")] == [f"{member}.check", f"{member}.apply", f"{member}.verify"]
    groups = [(e["group"], e["result"]) for e in r.journal() if e.get("event") == "group"]
    assert groups == [(GROUP, "started"), (GROUP, "up")]
    assert r.store.read().role == Role.ACTIVE
    assert report.to_json()["steps"][1]["group"] == GROUP
    assert "group" not in report.to_json()["steps"][0]


def test_a_failed_member_undoes_the_members_that_came_up_and_the_steps_before_in_reverse(tmp_path: Path) -> None:
    r = rig(tmp_path, "s1", "a", "b", "c", "s2", groups=(("a", "b", "c"),))
    r.book.expect(
        2,
        s1=[*up_calls(meet=False), Call("undo"), Call("verify-undone")],
        a=[*up_calls(), Call("undo"), Call("verify-undone")],
        b=[Call("check"), Call("apply", meet=True, fails=StepError("b", "would not start")), Call("release-probe", up=True), Call("undo"), Call("verify-undone")],
        c=[Call("check", up=True), Call("undo"), Call("verify-undone")],  # up already: it counts as up, and is undone
    )
    report = r.engine.takeover()
    r.book.assert_done()
    assert report.exit_status == ExitStatus.FAILED and report.role == Role.FAILED
    assert report.error == "step b: would not start"
    assert results(report.steps) == [("s1", "done", None), ("a", "done", GROUP), ("c", "already", GROUP), ("b", "failed", GROUP)]
    # After the group ended: the failed member (partly up), then the members that came up in reverse, then the steps before.
    rollback = r.book.calls()[r.book.calls().index("b.release-probe") :]
    assert rollback == ["b.release-probe", "b.undo", "b.verify-undone", "c.undo", "c.verify-undone", "a.undo", "a.verify-undone", "s1.undo", "s1.verify-undone"]
    assert results(report.rollback) == [("b", "undone", None), ("c", "undone", None), ("a", "undone", None), ("s1", "undone", None)]
    assert "s2.check" not in r.book.calls()
    journal = r.journal()
    assert [(e["group"], e["result"]) for e in journal if e.get("event") == "group"] == [(GROUP, "started"), (GROUP, "failed: command:b")]
    phases = [(short(str(e["step"])), e["phase"], e["result"]) for e in journal if "step" in e and e["action"] == "takeover"]
    assert ("a", "verify", "ok") in phases and ("b", "apply", "failed") in phases and ("c", "check", "up") in phases
    assert r.store.read().role == Role.FAILED


def test_two_failed_members_are_both_reported_and_the_first_listed_names_the_error(tmp_path: Path) -> None:
    r = rig(tmp_path, "a", "b", "c", groups=(("a", "b", "c"),))
    r.book.expect(
        3,
        a=[Call("check"), Call("apply", meet=True, fails=StepError("a", "failed")), Call("release-probe")],
        b=[*up_calls(), Call("undo"), Call("verify-undone")],
        c=[Call("check"), Call("apply", meet=True), Call("verify", fails=StepError("c", "failed")), Call("release-probe", up=True), Call("undo"), Call("verify-undone")],
    )
    report = r.engine.takeover()
    r.book.assert_done()
    assert report.error == "step a: failed"
    assert results(report.steps) == [("b", "done", GROUP), ("c", "failed", GROUP), ("a", "failed", GROUP)]
    assert results(report.rollback) == [("c", "undone", None), ("b", "undone", None)]  # a was down: not reported


def test_a_sigterm_during_a_group_waits_for_the_members_then_undoes_what_came_up(tmp_path: Path) -> None:
    """The signal interrupts the main thread's wait for the members; ``a`` is still verifying (0.2 s) then, and
    its undo comes only after: a rollback never runs beside a member's apply or verify."""
    r = rig(tmp_path, "s1", "a", "b", "s2", groups=(("a", "b"),))
    r.book.expect(
        2,
        s1=[*up_calls(meet=False), Call("undo"), Call("verify-undone")],
        a=[Call("check"), Call("apply", meet=True, sigterm=True), Call("verify", then=lambda: time.sleep(0.2)), Call("undo"), Call("verify-undone")],
        b=[*up_calls(), Call("undo"), Call("verify-undone")],
    )
    report = r.engine.takeover()
    r.book.assert_done()
    assert r.book.index("a.verify ended") < r.book.index("a.undo"), r.book.log
    assert report.exit_status == ExitStatus.FAILED and report.error == "interrupted by SIGTERM"
    assert results(report.rollback) == [("b", "undone", None), ("a", "undone", None), ("s1", "undone", None)]
    assert "s2.check" not in r.book.calls()


def test_a_release_takes_a_groups_members_down_in_reverse_of_their_listing(tmp_path: Path) -> None:
    r = rig(tmp_path, "s1", "a", "b", groups=(("a", "b"),))
    down = [Call("release-probe", up=True), Call("undo"), Call("verify-undone")]
    r.book.expect(s1=down, a=down, b=down)
    report = r.engine.release()
    r.book.assert_done()
    assert report.ok
    assert [c.split(".")[0] for c in r.book.calls()] == ["b"] * 3 + ["a"] * 3 + ["s1"] * 3


def _interrupted(r: Rig, role: Role) -> None:
    """``state.json`` as a transition killed half-way leaves it: in progress, its process gone."""
    state = NodeState.now(role, since=0.0, running=True, node="test")
    assert state.pid is not None and state.pid_start is not None
    r.store.write(dataclasses.replace(state, pid_start=state.pid_start + 1))  # this pid, another (gone) process
    assert r.store.read().interrupted()


def test_a_takeover_after_a_crash_with_a_group_half_up_brings_up_only_the_members_down(tmp_path: Path) -> None:
    r = rig(tmp_path, "s1", "a", "b", groups=(("a", "b"),))
    _interrupted(r, Role.STARTING)
    r.book.expect(s1=[Call("check", up=True)], a=[Call("check", up=True)], b=up_calls(meet=False))
    report = r.engine.takeover()
    r.book.assert_done()
    assert report.ok and report.recovered is not None and "completing it" in report.recovered
    assert results(report.steps) == [("s1", "already", None), ("a", "already", "command:a+command:b"), ("b", "done", "command:a+command:b")]
    assert r.store.read().role == Role.ACTIVE


def test_a_release_after_a_crash_with_a_group_half_up_takes_down_what_is_up(tmp_path: Path) -> None:
    r = rig(tmp_path, "s1", "a", "b", groups=(("a", "b"),))
    _interrupted(r, Role.STARTING)
    down = [Call("release-probe", up=True), Call("undo"), Call("verify-undone")]
    r.book.expect(s1=down, a=down, b=[Call("release-probe")])
    report = r.engine.release()
    r.book.assert_done()
    assert report.ok and report.recovered is not None and "rolling it back" in report.recovered
    assert [(short(o.step), o.result.value) for o in report.steps] == [("b", "already"), ("a", "undone"), ("s1", "undone")]
    assert r.store.read().role == Role.STANDBY


def test_a_dry_run_names_each_members_group(tmp_path: Path) -> None:
    r = rig(tmp_path, "s1", "a", "b", groups=(("a", "b"),))
    r.book.expect(s1=[Call("check", up=True)], a=[Call("check")], b=[Call("check", up=True)])
    report = r.engine.takeover(dry_run=True)
    r.book.assert_done()
    assert results(report.steps) == [("s1", "already", None), ("a", "would-apply", "command:a+command:b"), ("b", "already", "command:a+command:b")]
    assert not (tmp_path / "state" / "journal.jsonl").exists()
