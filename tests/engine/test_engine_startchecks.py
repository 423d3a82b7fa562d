"""Every step's check started when a takeover begins (``engine.startchecks``), in this process with fake steps.

The steps are the only stand-ins (``tests.engine.scripted``: they touch
nothing and answer from scripts; the checks run in threads, the log is
locked). Where a test needs the checks to run concurrently, they meet at a
barrier: run one after the other, the first would wait there alone and the
barrier would break (the test fails). The engine, its journal and
``state.json`` are the production code. No program runs.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

from tests.engine.scripted import Call, rig, short
from twinstar.engine import startchecks
from twinstar.engine.state import Role
from twinstar.errors import ExitStatus, StepError


def up(check: Call | None = None) -> list[Call]:
    return [check or Call("check"), Call("apply"), Call("verify")]


def test_every_check_runs_at_the_start_concurrently_then_the_applies_in_order(tmp_path: Path) -> None:
    r = rig(tmp_path, "s1", "s2", "s3", at_start=True)
    r.book.expect(3, **{s: up(Call("check", meet=True)) for s in ("s1", "s2", "s3")})
    report = r.engine.takeover()
    r.book.assert_done()
    assert report.ok, report.error
    assert [(short(o.step), o.result.value) for o in report.steps] == [("s1", "done"), ("s2", "done"), ("s3", "done")]
    applies = [c for c in r.book.log if c.endswith(("apply", "verify"))]
    assert applies == ["s1.apply", "s1.verify", "s2.apply", "s2.verify", "s3.apply", "s3.verify"]
    # The journal: each step's check once, in the steps' order, with its own times: all began before the first apply.
    assert r.phases() == [(s, p, res) for s in ("s1", "s2", "s3") for p, res in (("check", "down"), ("apply", "started"), ("apply", "ok"), ("verify", "ok"))]
    first_apply = r.line("s1", "apply", "started")["start"]
    for s in ("s1", "s2", "s3"):
        check = r.line(s, "check", "down")
        assert check["start"] <= first_apply and check["start"] <= check["end"]  # type: ignore[operator]
    assert r.store.read().role == Role.ACTIVE


def test_a_slow_check_runs_beside_the_applies_before_it_and_its_step_waits_for_it(tmp_path: Path) -> None:
    r = rig(tmp_path, "s1", "s2", "s3", at_start=True)
    s2_applied = threading.Event()
    r.book.expect(
        s1=up(),
        s2=[Call("check"), Call("apply", then=s2_applied.set), Call("verify")],
        s3=up(Call("check", then=r.book.awaits(s2_applied, "s3's check waited for s2's apply in vain: the applies waited for the checks"))),
    )
    assert r.engine.takeover().ok
    r.book.assert_done()
    assert r.book.index("s2.apply") < r.book.index("s3.check ended") < r.book.index("s3.apply")


def test_a_check_that_raised_at_the_start_runs_again_in_its_turn(tmp_path: Path) -> None:
    r = rig(tmp_path, "s1", "s2", at_start=True)
    r.book.expect(s1=up(), s2=[Call("check", fails=StepError("s2", "not readable yet")), *up()])
    assert r.engine.takeover().ok
    r.book.assert_done()
    checks = [i for i, c in enumerate(r.book.log) if c == "s2.check"]
    assert len(checks) == 2 and r.book.index("s1.verify ended") < checks[1]
    assert [p for p in r.phases() if p[:2] == ("s2", "check")] == [("s2", "check", "down")]  # journaled once: the check of its turn
    assert r.line("s2", "check", "down")["start"] >= r.line("s1", "verify", "ok")["end"]  # type: ignore[operator]


def test_a_check_that_fails_in_its_turn_too_rolls_back_as_before(tmp_path: Path) -> None:
    r = rig(tmp_path, "s1", "s2", at_start=True)
    r.book.expect(
        s1=[*up(), Call("undo"), Call("verify-undone")],
        s2=[Call("check", fails=StepError("s2", "unreadable")), Call("check", fails=StepError("s2", "unreadable"))],
    )
    report = r.engine.takeover()
    r.book.assert_done()
    assert report.exit_status == ExitStatus.FAILED and report.error == "step s2: unreadable"
    assert [(short(o.step), o.result.value) for o in report.rollback] == [("s1", "undone")]
    assert ("s2", "check", "failed") in r.phases()


def test_a_failed_apply_rolls_back_and_the_takeover_ends_only_after_the_checks_still_running(tmp_path: Path) -> None:
    r = rig(tmp_path, "s1", "s2", "s3", at_start=True)
    s1_undone = threading.Event()
    r.book.expect(
        s1=[*up(), Call("undo", then=s1_undone.set), Call("verify-undone")],
        s2=[Call("check"), Call("apply", fails=StepError("s2", "start failed")), Call("release-probe")],
        s3=[Call("check", then=r.book.awaits(s1_undone, "s3's check waited for the rollback in vain"))],  # still running when s2 fails
    )
    report = r.engine.takeover()
    assert "s3.check ended" in r.book.log  # the takeover waited for it
    r.book.assert_done()
    assert report.exit_status == ExitStatus.FAILED and report.error == "step s2: start failed"
    assert [(short(o.step), o.result.value) for o in report.rollback] == [("s1", "undone")]
    assert not [p for p in r.phases() if p[0] == "s3"]  # never its turn: not journaled
    assert r.store.read().role == Role.FAILED


def test_a_check_up_at_the_start_leaves_its_step_alone(tmp_path: Path) -> None:
    r = rig(tmp_path, "s1", "s2", at_start=True)
    r.book.expect(s1=up(), s2=[Call("check", up=True)])
    report = r.engine.takeover()
    r.book.assert_done()
    assert [(short(o.step), o.result.value) for o in report.steps] == [("s1", "done"), ("s2", "already")]
    assert ("s2", "check", "up") in r.phases()


def test_a_step_whose_check_reads_what_the_steps_before_bring_up_is_checked_in_its_turn(tmp_path: Path) -> None:
    r = rig(tmp_path, "s1", "s2", at_start=True, in_turn=("s2",))
    r.book.expect(s1=up(), s2=up())
    assert r.engine.takeover().ok
    r.book.assert_done()
    assert r.book.index("s1.verify ended") < r.book.index("s2.check")


def test_a_groups_members_take_the_answers_of_their_checks_started_with_the_takeover(tmp_path: Path) -> None:
    r = rig(tmp_path, "s1", "a", "b", groups=(("a", "b"),), at_start=True)
    s1_applied = threading.Event()
    r.book.expect(
        s1=[Call("check"), Call("apply", then=s1_applied.set), Call("verify")],
        a=up(Call("check", then=r.book.awaits(s1_applied, "a's check waited for s1's apply in vain"))),
        b=[Call("check", up=True)],
    )
    report = r.engine.takeover()
    r.book.assert_done()
    assert [(short(o.step), o.result.value, o.group) for o in report.steps] == [
        ("s1", "done", None), ("a", "done", "command:a+command:b"), ("b", "already", "command:a+command:b")
    ]
    assert r.book.log.count("a.check") == 1 and r.book.index("s1.apply") < r.book.index("a.check ended")


def test_a_check_started_with_the_takeover_yields_the_cpu_to_the_applies(tmp_path: Path) -> None:
    """Its thread (and so each program it starts) runs at CHECK_NICE: on two busy cores the applies go first."""
    r = rig(tmp_path, "s1", "s2", at_start=True)
    seen: dict[str, int] = {}

    def note(name: str) -> Callable[[], None]:
        return lambda: seen.__setitem__(name, os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))

    r.book.expect(s1=[Call("check"), Call("apply", then=note("apply")), Call("verify")], s2=up(Call("check", then=note("check"))))
    assert r.engine.takeover().ok
    r.book.assert_done()
    assert seen["check"] == max(startchecks.CHECK_NICE, seen["apply"])  # never raised above what it was
    assert seen["apply"] == os.getpriority(os.PRIO_PROCESS, 0)  # the applies keep the process's own
