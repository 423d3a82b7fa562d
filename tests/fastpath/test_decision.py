"""The pure decision table."""

from __future__ import annotations

from pathlib import Path

import pytest

from twinstar.astribank import readiness, sysfs, xpporder
from twinstar.fastpath.decision import EVENT, NOTHING, PERIODIC, RELEASE, TAKEOVER, decide
from twinstar.standins.fakesysfs import FakeSysfs


@pytest.fixture
def views(tmp_path: Path) -> dict[str, readiness.Readiness]:
    entries = xpporder.parse(b"usb:0\nusb:1\n", "/x").entries
    out = {}
    fs = FakeSysfs(str(tmp_path))
    out["none"] = readiness.compute(entries, sysfs.scan(str(tmp_path)))
    fs.arrive(0, label="usb:0", connector="usb-0")
    out["partial"] = readiness.compute(entries, sysfs.scan(str(tmp_path)))
    fs.arrive(1, label="usb:1", connector="usb-1")
    out["all"] = readiness.compute(entries, sysfs.scan(str(tmp_path)))
    return out


@pytest.mark.parametrize(
    ("view", "kw", "action"),
    [
        ("all", {"role": "standby"}, TAKEOVER),
        ("all", {"role": "active"}, NOTHING),
        ("all", {"role": "standby", "maintenance": True}, NOTHING),
        ("all", {"role": "standby", "pending": "takeover handed off"}, NOTHING),
        ("all", {"role": "starting"}, NOTHING),  # its process is alive
        ("all", {"role": "starting", "interrupted": True}, TAKEOVER),
        ("all", {"role": "failed", "event_time": 10.0, "since": 5.0}, TAKEOVER),
        ("all", {"role": "failed", "event_time": 4.0, "since": 5.0}, NOTHING),  # the burst that failed
        ("all", {"role": "failed", "trigger": PERIODIC, "since": 5.0}, NOTHING),
        ("partial", {"role": None}, NOTHING),
        ("partial", {"role": "active"}, NOTHING),
        ("none", {"role": "active"}, RELEASE),
        ("none", {"role": "standby"}, NOTHING),
        ("none", {"role": "active", "maintenance": True}, NOTHING),
        ("none", {"role": "active", "pending": "release handed off"}, NOTHING),
        ("none", {"role": "stopping"}, NOTHING),
        ("none", {"role": "stopping", "interrupted": True}, RELEASE),
        ("none", {"role": "starting", "interrupted": True}, RELEASE),
        ("none", {"role": "failed", "trigger": EVENT, "event_time": 9.0, "since": 1.0}, RELEASE),
        ("none", {"role": "failed", "trigger": PERIODIC}, NOTHING),
    ],
)
def test_decision_table(views: dict[str, readiness.Readiness], view: str, kw: dict[str, object], action: str) -> None:
    decision = decide(views[view], **kw)  # type: ignore[arg-type]
    assert decision.action == action, decision.reason
    assert decision.reason


def test_role_is_required_when_it_matters(views: dict[str, readiness.Readiness]) -> None:
    with pytest.raises(ValueError):
        decide(views["all"], role=None)
