"""The pure decision for a step found down on the active node: every row of twinstar/policy/stepdown.py, and the backoff."""

from __future__ import annotations

import pytest

from twinstar.policy.stepdown import StepVerdict, decide, next_delay, owns


def _decide(failures: int, *, due: bool = True, maintenance: bool = False, hold: str | None = None, peer: bool | None = True) -> StepVerdict:
    return decide("pbx", failures, 2, due=due, maintenance=maintenance, hold=hold, peer_powered=peer)


@pytest.mark.parametrize(
    ("failures", "kw", "row", "restart", "hand_back", "alarm"),
    [
        (0, {"maintenance": True}, 1, False, False, None),
        (3, {"maintenance": True}, 1, False, False, None),
        (0, {}, 2, True, False, None),
        (2, {}, 2, True, False, None),
        (1, {"due": False}, 3, False, False, None),
        (3, {"due": False}, 4, False, True, None),
        (3, {}, 4, False, True, None),
        (3, {"due": False, "peer": False}, 5, False, False, "cannot serve: step pbx is down and 3 restarts failed; the peer's port has no power"),
        (4, {"peer": False}, 5, True, False, "cannot serve: step pbx is down and 4 restarts failed; the peer's port has no power"),
        (3, {"peer": None}, 5, True, False, "cannot serve: step pbx is down and 3 restarts failed; the peer's port power is unknown"),
        (3, {"hold": "takeover"}, 5, True, False, "cannot serve: step pbx is down and 3 restarts failed; held by the operator's takeover"),
        (3, {"hold": "release"}, 4, False, True, None),
    ],
)
def test_each_row(failures: int, kw: dict[str, object], row: int, restart: bool, hand_back: bool, alarm: str | None) -> None:
    verdict = _decide(failures, **kw)  # type: ignore[arg-type]
    assert (verdict.row, verdict.restart, verdict.hand_back, verdict.alarm) == (row, restart, hand_back, alarm), verdict


def test_the_restarts_back_off_like_the_takeover_retries_then_go_slow() -> None:
    assert [next_delay(n, 5.0, 300.0, 3) for n in (1, 2, 3, 4, 5)] == [5.0, 10.0, 20.0, 300.0, 300.0]
    assert next_delay(3, 100.0, 300.0, 3) == 300.0  # never beyond the slow retry


def test_its_alarms_are_known_by_their_words() -> None:
    alarm = _decide(3, peer=False).alarm
    assert owns(alarm) and not owns("cannot serve: 3 takeover tries failed: handing the units to the peer")
    assert not owns("units missing: usb:B (1 of 2 here)") and not owns(None)
