"""Every row of the pair policy's decision table (twinstar.policy.table), on its own: a pure function."""

from __future__ import annotations

import pytest

from twinstar.policy.table import Situation, decide, retry_delay
from twinstar.words import (
    ACTIVE,
    FAILED,
    HAND_BACK,
    NOTHING,
    RELEASE,
    STANDBY,
    STAY,
    TAKEOVER,
    WAIT,
)

#: A failed node with every unit, its tries spent, the peer up: the base most rows vary.
SPENT = {"role": FAILED, "here": 2, "listed": 2, "last": "failed", "tries": 3, "retries": 3, "peer_powered": True}

#: (row, situation, action, alarm expected)
ROWS: list[tuple[int, dict[str, object], str, bool]] = [
    (1, {**SPENT, "maintenance": True}, NOTHING, False),
    (1, {"role": STANDBY, "here": 1, "listed": 2, "peer_powered": True, "split_over": True, "maintenance": True}, NOTHING, False),
    (2, {"role": STANDBY, "here": 2, "listed": 2, "hold": RELEASE}, NOTHING, False),
    (2, {**SPENT, "hold": RELEASE}, NOTHING, False),
    (3, {"role": ACTIVE, "here": 1, "listed": 2, "hold": TAKEOVER, "missing": ("usb:X",)}, STAY, True),
    (3, {"role": ACTIVE, "here": 0, "listed": 2, "hold": TAKEOVER}, STAY, False),
    (4, {"role": STANDBY, "here": 0, "listed": 2}, NOTHING, False),
    (4, {"role": STANDBY, "here": 0, "listed": 2, "hold": RELEASE}, NOTHING, False),
    (5, {"role": ACTIVE, "here": 0, "listed": 2}, RELEASE, False),
    (5, {"role": FAILED, "here": 0, "listed": 2}, RELEASE, False),
    (6, {"role": ACTIVE, "here": 1, "listed": 2, "missing": ("usb:B",)}, STAY, True),
    (7, {"role": STANDBY, "here": 1, "listed": 2, "peer_powered": False, "split_over": True}, NOTHING, False),
    (7, {"role": STANDBY, "here": 1, "listed": 2, "peer_powered": None, "split_over": True}, NOTHING, False),
    (8, {"role": STANDBY, "here": 1, "listed": 2, "peer_powered": True, "split_over": False}, WAIT, False),
    (9, {"role": STANDBY, "here": 1, "listed": 2, "peer_powered": True, "split_over": True}, HAND_BACK, False),
    (9, {"role": STANDBY, "here": 1, "listed": 2, "peer_powered": True, "split_over": True, "received_back": True}, STAY, True),
    (10, {"role": ACTIVE, "here": 2, "listed": 2}, NOTHING, False),
    (11, {"role": STANDBY, "here": 2, "listed": 2}, TAKEOVER, False),
    (11, {"role": STANDBY, "here": 2, "listed": 2, "last": "ok", "hold": TAKEOVER}, TAKEOVER, False),
    (12, {**SPENT, "tries": 0, "disk": "Outdated", "peer_disk": "UpToDate"}, HAND_BACK, False),
    (12, {**SPENT, "tries": 0, "disk": "Outdated", "peer_disk": "UpToDate", "received_back": True}, STAY, True),
    (13, {**SPENT, "tries": 0, "retry_due": True}, TAKEOVER, False),
    (13, {**SPENT, "last": "refused", "tries": 1, "retry_due": True}, TAKEOVER, False),
    (13, {**SPENT, "tries": 0, "disk": "Outdated", "peer_disk": "Outdated", "retry_due": True}, TAKEOVER, False),
    (14, {**SPENT, "tries": 2, "retry_due": False}, WAIT, False),
    (15, {**SPENT, "last": "refused", "tries": 0, "guard_may_clear": False}, HAND_BACK, False),
    (16, {**SPENT}, HAND_BACK, False),
    (16, {**SPENT, "retries": 0, "tries": 0}, HAND_BACK, False),
    (17, {**SPENT, "received_back": True, "retry_due": False}, STAY, True),
    (17, {**SPENT, "peer_powered": False, "retry_due": False}, STAY, True),
    (17, {**SPENT, "peer_powered": None, "retry_due": False}, STAY, True),
    (17, {**SPENT, "received_back": True, "retry_due": True}, TAKEOVER, True),
]


@pytest.mark.parametrize(("row", "given", "action", "alarm"), ROWS, ids=[f"row{r[0]}-{i}" for i, r in enumerate(ROWS)])
def test_each_row_of_the_table(row: int, given: dict[str, object], action: str, alarm: bool) -> None:
    verdict = decide(Situation(**given))  # type: ignore[arg-type]
    assert (verdict.row, verdict.action, verdict.alarm is not None) == (row, action, alarm), verdict


def test_every_row_is_covered() -> None:
    assert {r[0] for r in ROWS} == set(range(1, 18))


def test_the_alarm_names_the_missing_units() -> None:
    verdict = decide(Situation(role=ACTIVE, here=1, listed=3, missing=("usb:B", "usb:C")))
    assert verdict.alarm == "units missing: usb:B, usb:C (1 of 3 here)"


def test_a_hand_back_that_cannot_happen_says_why() -> None:
    verdict = decide(Situation(**{**SPENT, "peer_powered": False, "retry_due": False}))  # type: ignore[arg-type]
    assert verdict.alarm is not None and "no power" in verdict.alarm and "cannot serve" in verdict.alarm


def test_no_ping_pong_without_a_window_either_side() -> None:
    """A node handed the units back; they return: it stays. Without the return, it hands back (once)."""
    back = Situation(**{**SPENT, "received_back": True, "retry_due": False})  # type: ignore[arg-type]
    assert decide(back).action == STAY
    assert decide(Situation(**SPENT)).action == HAND_BACK  # type: ignore[arg-type]


@pytest.mark.parametrize(("tries", "delay"), [(0, 5.0), (1, 5.0), (2, 10.0), (3, 20.0), (4, 40.0), (10, 300.0)])
def test_the_retry_delay_doubles_up_to_its_limit(tries: int, delay: float) -> None:
    assert retry_delay(tries, 5.0, 300.0) == delay
