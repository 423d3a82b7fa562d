"""A watchdog re-arm runs at lower priority than a takeover beside it.

Every ``online`` event re-arms its unit; those re-arms must not take CPU
from the takeover the last event starts. Inline (the daemon, the demo's
hooks) only the re-arming thread is lowered, and only while it re-arms.
Real threads and the real scheduler settings; nothing is replaced.
"""

from __future__ import annotations

import os
import threading

import pytest

from twinstar import handoff


def niceness() -> int:
    return os.getpriority(os.PRIO_PROCESS, 0)


def test_lowering_is_for_the_calling_thread_only_and_is_undone() -> None:
    main_before = niceness()
    seen: dict[str, int | None] = {}

    def rearm_like() -> None:
        before = handoff.lower_priority(handoff.REARM_NICE)
        seen["before"] = before
        seen["during"] = niceness()
        seen["main_during"] = os.getpriority(os.PRIO_PROCESS, threading.main_thread().native_id or 0)
        handoff.restore_priority(before)
        seen["after"] = niceness()

    t = threading.Thread(target=rearm_like)
    t.start()
    t.join()
    assert seen["before"] == main_before
    assert seen["during"] == min(main_before + handoff.REARM_NICE, 19)
    assert seen["main_during"] == main_before
    assert niceness() == main_before
    if os.geteuid() == 0:  # raising the niceness back needs CAP_SYS_NICE
        assert seen["after"] == main_before


@pytest.mark.parametrize("start", [0, 15, 19])
def test_niceness_stays_within_the_kernels_range(start: int) -> None:
    if start < niceness() and os.geteuid() != 0:
        pytest.skip("lowering the niceness needs CAP_SYS_NICE")
    result: dict[str, int] = {}

    def run() -> None:
        os.setpriority(os.PRIO_PROCESS, 0, start)  # this thread only
        handoff.lower_priority(handoff.REARM_NICE)
        result["n"] = niceness()

    t = threading.Thread(target=run)
    t.start()
    t.join()
    assert result["n"] == min(start + handoff.REARM_NICE, 19)
