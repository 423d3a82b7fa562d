"""``EarlyProbe``: a safety probe run in a thread from the takeover's start, its answer used only for the inputs it read.

Pure: the inputs and the probe are plain functions; events order the thread
and the test (no program runs, nothing is timed).
"""

from __future__ import annotations

import threading

import pytest

from twinstar.errors import RefusedError, StepError
from twinstar.steps.early import EarlyProbe

#: Generous: only reached when the probe does not run in a thread of its own.
WAIT = 60.0


def test_the_probe_runs_in_its_own_thread_and_its_answer_is_collected_for_the_same_inputs() -> None:
    release = threading.Event()

    def probe(inputs: str) -> str:
        assert release.wait(WAIT), "the probe ran in the caller's thread"
        return f"answer for {inputs}"

    early = EarlyProbe("x", lambda: "link up", probe)  # returns at once: the probe waits in its thread
    release.set()
    assert early.collect("link up") == ("answer for link up",)


def test_other_inputs_at_collection_are_not_answered() -> None:
    early = EarlyProbe("x", lambda: "link up", lambda inputs: "nobody answers")
    assert early.collect("link down") is None


def test_nothing_to_probe_is_not_answered() -> None:
    ran: list[str] = []

    def probe(inputs: str) -> str:
        ran.append(inputs)
        return "no"

    early: EarlyProbe[str, str] = EarlyProbe("x", lambda: None, probe)
    assert early.collect("link up") is None
    assert ran == []


def test_the_probes_failure_is_raised_at_collection_for_the_same_inputs_only() -> None:
    def refuse(inputs: str) -> str:
        raise RefusedError("another host answers")

    with pytest.raises(RefusedError, match="another host answers"):
        EarlyProbe("x", lambda: "link up", refuse).collect("link up")
    assert EarlyProbe("x", lambda: "link up", refuse).collect("link changed") is None


def test_inputs_that_cannot_be_read_leave_the_probe_to_the_step() -> None:
    def unreadable() -> str:
        raise StepError("x", "ip failed")

    assert EarlyProbe("x", unreadable, lambda inputs: "no").collect("link up") is None


@pytest.mark.parametrize("end_it", ["collect", "drop"])
def test_a_probe_that_goes_on_until_told_is_told_when_collected_and_when_dropped(end_it: str) -> None:
    told = threading.Event()

    def probe(inputs: str) -> str:
        assert told.wait(WAIT), "never told to end"
        return "nobody answered meanwhile"

    released: list[str] = []
    early = EarlyProbe("x", lambda: "link up", probe, release=released.append, finish=told.set)
    assert early.running and not told.is_set()
    if end_it == "collect":
        assert early.collect("link up") == ("nobody answered meanwhile",)
    else:
        early.drop()
        early.wait()
        assert released == ["nobody answered meanwhile"]
    assert told.is_set() and not early.running
