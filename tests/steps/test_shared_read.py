"""``SharedRead``: reads of a step's state that overlap in time share one; a later one reads anew.

Pure: the read is a plain function; events order the threads and the test
(no program runs, nothing is timed).
"""

from __future__ import annotations

import threading
import time

import pytest

from twinstar.errors import StepError
from twinstar.steps.base import SharedRead

#: Generous: only reached when the threads do not overlap as the test orders them.
WAIT = 60.0


def until_waiting(shared: SharedRead[str], callers: int) -> None:
    """Until ``callers`` callers wait for the read under way (its event's waiters: nothing else tells)."""
    deadline = time.monotonic() + WAIT
    while True:
        flight = shared._flight
        if flight is not None and len(flight.done._cond._waiters) >= callers:  # type: ignore[attr-defined]
            return
        assert time.monotonic() < deadline, "the callers never waited for the read under way"
        time.sleep(0.001)


class Reader:
    """Counts its reads; the first one blocks until ``release`` is set, announcing ``started``."""

    def __init__(self, fails: bool = False) -> None:
        self.started = threading.Event()
        self.release = threading.Event()
        self.reads = 0
        self.fails = fails

    def read(self) -> str:
        self.reads += 1
        self.started.set()
        assert self.release.wait(WAIT)
        if self.fails:
            raise StepError("x", "unreadable")
        return f"reading {self.reads}"


def test_a_read_asked_for_while_one_runs_waits_for_it_and_shares_its_answer() -> None:
    reader = Reader()
    shared = SharedRead(reader.read)
    got: list[str] = []
    first = threading.Thread(target=lambda: got.append(shared.get()))
    first.start()
    assert reader.started.wait(WAIT)
    second = threading.Thread(target=lambda: got.append(shared.get()))
    second.start()
    until_waiting(shared, 1)
    reader.release.set()
    first.join(WAIT)
    second.join(WAIT)
    assert got == ["reading 1", "reading 1"] and reader.reads == 1


def test_a_read_asked_for_after_one_ended_reads_anew() -> None:
    reader = Reader()
    reader.release.set()
    shared = SharedRead(reader.read)
    assert shared.get() == "reading 1"
    assert shared.get() == "reading 2"  # never an answer older than the call


def test_the_error_of_a_shared_read_is_raised_to_each_caller_and_the_next_read_tries_again() -> None:
    reader = Reader(fails=True)
    shared = SharedRead(reader.read)
    errors: list[str] = []

    def call() -> None:
        try:
            shared.get()
        except StepError as exc:
            errors.append(str(exc))

    first = threading.Thread(target=call)
    first.start()
    assert reader.started.wait(WAIT)
    second = threading.Thread(target=call)
    second.start()
    until_waiting(shared, 1)
    reader.release.set()
    first.join(WAIT)
    second.join(WAIT)
    assert errors == ["step x: unreadable", "step x: unreadable"] and reader.reads == 1
    reader.fails = False
    assert shared.get() == "reading 2"


@pytest.mark.parametrize("callers", [3])
def test_every_caller_that_overlaps_shares_the_one_read(callers: int) -> None:
    reader = Reader()
    shared = SharedRead(reader.read)
    got: list[str] = []
    threads = [threading.Thread(target=lambda: got.append(shared.get())) for _ in range(callers)]
    threads[0].start()
    assert reader.started.wait(WAIT)
    for t in threads[1:]:
        t.start()
    until_waiting(shared, callers - 1)
    reader.release.set()
    for t in threads:
        t.join(WAIT)
    assert got == ["reading 1"] * callers and reader.reads == 1
