"""The engine in this process with fake steps: the order of every step call, rollback, release, dry run, recovery.

The steps are the only stand-ins (``tests.engine.scripted``'s fake steps: they
touch nothing; here each call takes the next entry of one ordered queue of
expected calls and answers as told). The engine, its lock, journal and
``state.json`` (a real :class:`StateStore` in ``tmp_path``) are the production
code. No program runs.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.engine.scripted import FakeStep, context, real_engine
from twinstar.engine.runner import SWITCH_INTERVAL, Engine, Report
from twinstar.engine.state import NodeState, Role, StateStore
from twinstar.errors import ExitStatus, RefusedError, StepError, TwinstarError


@dataclass(frozen=True)
class Call:
    """One expected call: ``step.phase``; a probe answers ``up``; ``fails`` is raised instead."""

    step: str
    phase: str
    up: bool = False
    fails: TwinstarError | None = None

    def __str__(self) -> str:
        answer = f" -> raises {type(self.fails).__name__}" if self.fails else (" -> up" if self.up else "")
        return f"{self.step}.{self.phase}{answer}"


class Calls:
    """The ordered queue of expected calls; a call out of order fails the test, showing the whole queue and the position."""

    def __init__(self, *expected: Call) -> None:
        self.expected = expected
        self.position = 0

    def show(self, got: str) -> str:
        lines = [f"{'->' if i == self.position else '  '} {i:2d} {c}" for i, c in enumerate(self.expected)]
        if self.position >= len(self.expected):
            lines.append(f"-> {self.position:2d} (end of the queue)")
        return f"{got}, at position {self.position} of the expected calls:\n" + "\n".join(lines)

    def take(self, step: str, phase: str) -> Call:
        if self.position >= len(self.expected) or (self.expected[self.position].step, self.expected[self.position].phase) != (step, phase):
            pytest.fail(self.show(f"unexpected call {step}.{phase}"), pytrace=False)
        call = self.expected[self.position]
        self.position += 1
        if call.fails is not None:
            raise call.fails
        return call

    def assert_done(self) -> None:
        assert self.position == len(self.expected), self.show("expected calls never made")


class RefreshingFakeStep(FakeStep):
    """A fake step with a refresh (as the ip step re-announces its address)."""

    def refresh(self) -> None:
        self.answers.take(self.short, "refresh")


class EarlyFakeStep(FakeStep):
    """A fake step with an early safety probe (as the ip and drbd steps): its start and its drop are calls too."""

    def start_early(self) -> None:
        self.answers.take(self.short, "start-early")

    def forget_early(self) -> None:
        self.answers.take(self.short, "forget-early")


@dataclass
class Rig:
    engine: Engine
    store: StateStore
    calls: Calls

    def expect(self, *calls: Call) -> None:
        self.calls.expected = calls
        self.calls.position = 0

    def journal(self) -> list[dict[str, object]]:
        return list(self.store.read_journal())


def rig(tmp_path: Path, *names: str, refreshing: tuple[str, ...] = (), early: tuple[str, ...] = ()) -> Rig:
    ctx = context(tmp_path, "unused")
    calls = Calls()
    steps = [(RefreshingFakeStep if n in refreshing else EarlyFakeStep if n in early else FakeStep)(n, ctx, calls) for n in names]
    return Rig(*real_engine(ctx, steps, tmp_path), calls)


def results(outcomes: tuple[object, ...]) -> list[tuple[str, str]]:
    return [(o.step, o.result.value) for o in outcomes]  # type: ignore[attr-defined]


def events(r: Rig) -> list[tuple[object, ...]]:
    """The journal's step lines as (step, phase, result)."""
    return [(e["step"], e["phase"], e["result"]) for e in r.journal() if "step" in e]


def test_takeover_checks_applies_and_verifies_each_step_in_order(tmp_path: Path) -> None:
    r = rig(tmp_path, "s1", "s2", "s3")
    r.expect(*(Call(s, p) for s in ("s1", "s2", "s3") for p in ("check", "apply", "verify")))
    report = r.engine.takeover()
    r.calls.assert_done()
    assert report.exit_status == ExitStatus.OK and report.error is None
    assert results(report.steps) == [("s1", "done"), ("s2", "done"), ("s3", "done")]
    assert report.rollback == ()
    assert r.store.read().role == Role.ACTIVE and not r.store.read().in_transition
    kinds = [e.get("event") for e in r.journal() if "event" in e]
    assert kinds == ["begin", "end"]
    assert ("s2", "apply", "started") in events(r) and ("s3", "verify", "ok") in events(r)


def test_a_step_already_up_is_only_checked_and_a_refreshing_one_refreshed(tmp_path: Path) -> None:
    r = rig(tmp_path, "s1", "s2", "s3", refreshing=("s3",))
    r.expect(
        Call("s1", "check", up=True),
        Call("s2", "check"), Call("s2", "apply"), Call("s2", "verify"),
        Call("s3", "check", up=True), Call("s3", "refresh"),
    )  # fmt: skip
    report = r.engine.takeover()
    r.calls.assert_done()
    assert report.ok
    assert results(report.steps) == [("s1", "already"), ("s2", "done"), ("s3", "already")]
    assert report.changed
    assert r.store.read().role == Role.ACTIVE


def test_a_takeover_with_every_step_up_changes_nothing(tmp_path: Path) -> None:
    r = rig(tmp_path, "s1", "s2")
    r.expect(Call("s1", "check", up=True), Call("s2", "check", up=True))
    report = r.engine.takeover()
    r.calls.assert_done()
    assert report.ok and not report.changed
    assert r.store.read().role == Role.ACTIVE


def test_a_failed_apply_undoes_the_steps_before_it_in_reverse(tmp_path: Path) -> None:
    r = rig(tmp_path, "s1", "s2", "s3", "s4")
    r.expect(
        Call("s1", "check"), Call("s1", "apply"), Call("s1", "verify"),
        Call("s2", "check", up=True),
        Call("s3", "check"), Call("s3", "apply", fails=StepError("s3", "start failed")),
        Call("s3", "release-probe"),  # nothing of s3 came up: it is left alone
        Call("s2", "undo"), Call("s2", "verify-undone"),
        Call("s1", "undo"), Call("s1", "verify-undone"),
    )  # fmt: skip
    report = r.engine.takeover()
    r.calls.assert_done()
    assert report.exit_status == ExitStatus.FAILED
    assert "start failed" in (report.error or "")
    assert results(report.steps) == [("s1", "done"), ("s2", "already"), ("s3", "failed")]
    assert results(report.rollback) == [("s2", "undone"), ("s1", "undone")]
    assert r.store.read().role == Role.FAILED
    assert ("s3", "apply", "failed") in events(r)


def test_a_failed_verify_undoes_that_step_and_the_steps_before_it_in_reverse(tmp_path: Path) -> None:
    """A step whose apply ran but whose verify failed may be partly up: it is taken down first."""
    r = rig(tmp_path, "s1", "s2", "s3")
    r.expect(
        Call("s1", "check"), Call("s1", "apply"), Call("s1", "verify"),
        Call("s2", "check"), Call("s2", "apply"), Call("s2", "verify", fails=StepError("s2", "not up after apply")),
        Call("s2", "release-probe", up=True), Call("s2", "undo"), Call("s2", "verify-undone"),
        Call("s1", "undo"), Call("s1", "verify-undone"),
    )  # fmt: skip
    report = r.engine.takeover()
    r.calls.assert_done()
    assert report.exit_status == ExitStatus.FAILED
    assert results(report.steps) == [("s1", "done"), ("s2", "failed")]
    assert results(report.rollback) == [("s2", "undone"), ("s1", "undone")]
    assert r.store.read().role == Role.FAILED


def test_an_apply_cut_short_with_part_of_the_step_up_is_taken_down(tmp_path: Path) -> None:
    """An apply that failed half-way (DRBD promoted, the mount failed) leaves nothing of itself up."""
    r = rig(tmp_path, "s1", "s2")
    r.expect(
        Call("s1", "check"), Call("s1", "apply"), Call("s1", "verify"),
        Call("s2", "check"), Call("s2", "apply", fails=StepError("s2", "mount failed")),
        Call("s2", "release-probe", up=True), Call("s2", "undo"), Call("s2", "verify-undone"),
        Call("s1", "undo"), Call("s1", "verify-undone"),
    )  # fmt: skip
    report = r.engine.takeover()
    r.calls.assert_done()
    assert results(report.rollback) == [("s2", "undone"), ("s1", "undone")]
    assert r.store.read().role == Role.FAILED


def test_a_step_that_raises_a_bug_is_rolled_back_like_a_failure(tmp_path: Path) -> None:
    r = rig(tmp_path, "s1", "s2")
    bug = Call("s2", "apply")
    r.expect(Call("s1", "check"), Call("s1", "apply"), Call("s1", "verify"), Call("s2", "check"), bug, Call("s2", "release-probe"), Call("s1", "undo"), Call("s1", "verify-undone"))

    def broken() -> None:
        r.calls.take("s2", "apply")
        raise KeyError("boom")

    r.engine.steps[1].apply = broken  # type: ignore[method-assign]
    report = r.engine.takeover()
    r.calls.assert_done()
    assert report.exit_status == ExitStatus.FAILED
    assert "unexpected KeyError" in (report.error or "")
    assert r.store.read().role == Role.FAILED


def test_a_refusal_rolls_back_and_leaves_the_node_standby(tmp_path: Path) -> None:
    r = rig(tmp_path, "s1", "s2", "s3")
    r.expect(
        Call("s1", "check"), Call("s1", "apply"), Call("s1", "verify"),
        Call("s2", "check", fails=RefusedError("the peer is Primary")),
        Call("s1", "undo"), Call("s1", "verify-undone"),
    )  # fmt: skip
    report = r.engine.takeover()
    r.calls.assert_done()
    assert report.exit_status == ExitStatus.REFUSED and report.verdict == "refused"
    assert results(report.steps) == [("s1", "done"), ("s2", "refused")]
    assert results(report.rollback) == [("s1", "undone")]
    assert r.store.read().role == Role.STANDBY


def test_a_refusal_whose_rollback_fails_leaves_the_node_failed(tmp_path: Path) -> None:
    r = rig(tmp_path, "s1", "s2")
    r.expect(
        Call("s1", "check"), Call("s1", "apply"), Call("s1", "verify"),
        Call("s2", "check"), Call("s2", "apply", fails=RefusedError("address in use")), Call("s2", "release-probe"),
        Call("s1", "undo", fails=StepError("s1", "stop failed")),
    )  # fmt: skip
    report = r.engine.takeover()
    r.calls.assert_done()
    assert report.exit_status == ExitStatus.REFUSED
    assert results(report.rollback) == [("s1", "failed")]
    assert r.store.read().role == Role.FAILED


def test_release_undoes_in_reverse_and_carries_on_past_a_failed_undo(tmp_path: Path) -> None:
    r = rig(tmp_path, "s1", "s2", "s3", "s4")
    r.expect(
        Call("s4", "release-probe", up=True), Call("s4", "undo"), Call("s4", "verify-undone"),
        Call("s3", "release-probe", up=True), Call("s3", "undo", fails=StepError("s3", "stop failed")),
        Call("s2", "release-probe"),
        Call("s1", "release-probe", up=True), Call("s1", "undo"), Call("s1", "verify-undone", fails=StepError("s1", "still up after undo")),
    )  # fmt: skip
    report = r.engine.release()
    r.calls.assert_done()
    assert report.exit_status == ExitStatus.FAILED
    assert results(report.steps) == [("s4", "undone"), ("s3", "failed"), ("s2", "already"), ("s1", "failed")]
    assert "stop failed" in (report.error or "") and "still up after undo" in (report.error or "")
    assert r.store.read().role == Role.FAILED


def test_a_clean_release_leaves_the_node_standby(tmp_path: Path) -> None:
    r = rig(tmp_path, "s1", "s2")
    r.expect(Call("s2", "release-probe", up=True), Call("s2", "undo"), Call("s2", "verify-undone"), Call("s1", "release-probe"))
    report = r.engine.release()
    r.calls.assert_done()
    assert report.ok
    assert results(report.steps) == [("s2", "undone"), ("s1", "already")]
    assert r.store.read().role == Role.STANDBY


@pytest.mark.parametrize("action", ["takeover", "release"])
def test_a_dry_run_only_probes_and_writes_nothing(tmp_path: Path, action: str) -> None:
    r = rig(tmp_path, "s1", "s2", "s3")
    if action == "takeover":
        r.expect(Call("s1", "check", up=True), Call("s2", "check", fails=StepError("s2", "cannot read")), Call("s3", "check"))
        want = [("s1", "already"), ("s2", "failed"), ("s3", "would-apply")]
    else:
        r.expect(Call("s3", "release-probe", up=True), Call("s2", "release-probe"), Call("s1", "release-probe", up=True))
        want = [("s3", "would-undo"), ("s2", "already"), ("s1", "would-undo")]
    report: Report = getattr(r.engine, action)(dry_run=True)
    r.calls.assert_done()
    assert report.dry_run
    assert results(report.steps) == want
    assert report.exit_status == (ExitStatus.FAILED if action == "takeover" else ExitStatus.OK)
    assert not (tmp_path / "state" / "state.json").exists()
    assert r.journal() == []


def test_early_probes_start_before_the_first_check_and_are_dropped_when_the_takeover_ends(tmp_path: Path) -> None:
    r = rig(tmp_path, "s1", "s2", "s3", early=("s2", "s3"))
    r.expect(
        Call("s2", "start-early"), Call("s3", "start-early"),
        Call("s1", "check"), Call("s1", "apply"), Call("s1", "verify"),
        Call("s2", "check"), Call("s2", "apply"), Call("s2", "verify"),
        Call("s3", "check", up=True),
        Call("s2", "forget-early"), Call("s3", "forget-early"),
    )
    assert r.engine.takeover().ok
    r.calls.assert_done()
    r.expect(
        Call("s2", "start-early"), Call("s3", "start-early"),
        Call("s1", "check"), Call("s1", "apply", fails=StepError("s1", "start failed")), Call("s1", "release-probe"),
        Call("s2", "forget-early"), Call("s3", "forget-early"),
    )
    assert not r.engine.takeover().ok
    r.calls.assert_done()
    r.expect(Call("s1", "check"), Call("s2", "check"), Call("s3", "check"))
    assert r.engine.takeover(dry_run=True).ok  # a dry run starts none
    r.calls.assert_done()


def _interrupted(r: Rig, role: Role) -> None:
    """``state.json`` as a transition killed half-way leaves it: in progress, its process gone."""
    state = NodeState.now(role, since=0.0, running=True, node="test")
    assert state.pid is not None and state.pid_start is not None
    r.store.write(dataclasses.replace(state, pid_start=state.pid_start + 1))  # this pid, another (gone) process
    assert r.store.read().interrupted


def test_a_takeover_completes_an_interrupted_takeover_from_the_real_state(tmp_path: Path) -> None:
    r = rig(tmp_path, "s1", "s2")
    _interrupted(r, Role.STARTING)
    r.expect(Call("s1", "check", up=True), Call("s2", "check"), Call("s2", "apply"), Call("s2", "verify"))
    report = r.engine.takeover()
    r.calls.assert_done()
    assert report.ok
    assert report.recovered is not None and "previous takeover" in report.recovered and "completing it" in report.recovered
    assert [e["event"] for e in r.journal() if "event" in e] == ["recovery", "begin", "end"]
    assert r.store.read().role == Role.ACTIVE and not r.store.read().in_transition


def test_a_release_rolls_back_an_interrupted_takeover(tmp_path: Path) -> None:
    r = rig(tmp_path, "s1", "s2")
    _interrupted(r, Role.STARTING)
    r.expect(Call("s2", "release-probe"), Call("s1", "release-probe", up=True), Call("s1", "undo"), Call("s1", "verify-undone"))
    report = r.engine.release()
    r.calls.assert_done()
    assert report.ok
    assert report.recovered is not None and "rolling it back" in report.recovered
    assert r.store.read().role == Role.STANDBY


def test_a_takeover_after_an_interrupted_release_brings_every_step_up_again(tmp_path: Path) -> None:
    r = rig(tmp_path, "s1")
    _interrupted(r, Role.STOPPING)
    r.expect(Call("s1", "check"), Call("s1", "apply"), Call("s1", "verify"))
    report = r.engine.takeover()
    r.calls.assert_done()
    assert report.recovered is not None and "previous release" in report.recovered and "bringing every step up again" in report.recovered
    assert r.store.read().role == Role.ACTIVE


def test_the_queue_names_the_whole_queue_and_the_position_on_a_mismatch() -> None:
    calls = Calls(Call("s1", "check"), Call("s1", "apply"), Call("s1", "verify"))
    calls.take("s1", "check")
    with pytest.raises(pytest.fail.Exception) as failed:
        calls.take("s2", "check")
    text = str(failed.value)
    assert "unexpected call s2.check, at position 1" in text
    assert "    0 s1.check\n->  1 s1.apply\n    2 s1.verify" in text


class SwitchIntervals(Calls):
    """The queue of expected calls, noting Python's thread switch interval at each call."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[float] = []

    def take(self, step: str, phase: str) -> Call:
        self.seen.append(sys.getswitchinterval())
        return super().take(step, phase)


def test_threads_take_turns_often_while_a_transition_runs(tmp_path: Path) -> None:
    """Every step call of a takeover, a rollback and a release sees :data:`SWITCH_INTERVAL` (not Python's 5 ms);
    the process's own interval holds again after each, also after a failed takeover."""
    ctx = context(tmp_path, "unused")
    calls = SwitchIntervals()
    r = Rig(*real_engine(ctx, [FakeStep(n, ctx, calls) for n in ("s1", "s2")], tmp_path), calls)
    before = sys.getswitchinterval()
    sys.setswitchinterval(0.004)  # the process's own, told apart from the default and from the engine's
    try:
        r.expect(*(Call(s, p) for s in ("s1", "s2") for p in ("check", "apply", "verify")))
        assert r.engine.takeover().exit_status == ExitStatus.OK
        assert sys.getswitchinterval() == 0.004
        r.expect(Call("s2", "release-probe", up=True), Call("s2", "undo"), Call("s2", "verify-undone"),
                 Call("s1", "release-probe", up=True), Call("s1", "undo"), Call("s1", "verify-undone"))  # fmt: skip
        assert r.engine.release().exit_status == ExitStatus.OK
        assert sys.getswitchinterval() == 0.004
        r.expect(Call("s1", "check"), Call("s1", "apply"), Call("s1", "verify"), Call("s2", "check"),
                 Call("s2", "apply", fails=StepError("s2", "broken")), Call("s2", "release-probe"),
                 Call("s1", "undo"), Call("s1", "verify-undone"))  # fmt: skip
        assert r.engine.takeover().exit_status == ExitStatus.FAILED
        assert sys.getswitchinterval() == 0.004
        r.calls.assert_done()
        assert len(calls.seen) == 20 and set(calls.seen) == {SWITCH_INTERVAL}, calls.seen
    finally:
        sys.setswitchinterval(before)
