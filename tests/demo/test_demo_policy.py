"""The demo's bad days: scenarios where the pair policy decides, each asserting the end state.

The whole ``twinstar demo`` as a process (root: namespaces, a loop device); only the hardware is
simulated (the Astribank units, the xpp driver's sysfs, DRBD's kernel side), as in test_demo_e2e.
"""

from __future__ import annotations

import pytest

from tests.demo.leftovers import new_demo_parts, snapshot
from tests.demo.test_demo_e2e import LAST_RUN, run_demo


@pytest.mark.privileged
def test_split_units_pbx_b_sends_the_unit_back_and_pbx_a_serves_all_alarm_raised_then_cleared() -> None:
    before = snapshot()
    rc, data, stderr = run_demo("--scenario", "split-units", "--units", "2", "--watchdog-timeout", "300")
    assert new_demo_parts(before, snapshot(), LAST_RUN[0]) == []
    (result,) = data["scenarios"]
    assert result["problems"] == [], stderr[-3000:]
    assert rc == 0 and data["ok"] is True and result["ok"] is True
    assert result["served_by"] == "pbx-a" and result["served"] == ["pbx-a"]
    assert result["hand_backs"] == 1
    assert result["transitions"] == {"pbx-a": 1, "pbx-b": 1}  # pbx-a's takeover; pbx-b's release within its hand-back
    policy = [(e["host"], e["event"]) for e in result["timeline"] if e["event"].startswith("policy: ")]
    raised = policy.index(("pbx-a", "policy: alarm: units missing: usb:SIM00002 (1 of 2 here)"))
    handed = next(i for i, (h, e) in enumerate(policy) if h == "pbx-b" and e.startswith("policy: hand-back ("))
    cleared = policy.index(("pbx-a", "policy: alarm cleared"))
    assert raised < cleared and handed < cleared
    assert result["address_on_both"] == [] and result["mount_on_both"] == []


@pytest.mark.privileged
def test_stale_primary_pbx_a_hands_the_units_over_and_pbx_b_serves() -> None:
    before = snapshot()
    rc, data, stderr = run_demo("--scenario", "stale-primary", "--units", "2", "--watchdog-timeout", "300")
    assert new_demo_parts(before, snapshot(), LAST_RUN[0]) == []
    (result,) = data["scenarios"]
    assert result["problems"] == [], stderr[-3000:]
    assert rc == 0 and result["ok"] is True
    assert result["served_by"] == "pbx-b" and result["served"] == ["pbx-b"]
    assert result["hand_backs"] == 1
    events = [(e["host"], e["event"]) for e in result["timeline"]]
    handed = next(i for i, (h, e) in enumerate(events) if h == "pbx-a" and e.startswith("policy: hand-back (this node's DRBD disk is Outdated"))
    b_takes = events.index(("pbx-b", "takeover begins"))
    assert handed < b_takes
    assert result["address_on_both"] == [] and result["mount_on_both"] == []


@pytest.mark.privileged
def test_failed_takeover_pbx_b_hands_the_units_back_and_pbx_a_serves() -> None:
    before = snapshot()
    rc, data, stderr = run_demo("--scenario", "failed-takeover", "--units", "2", "--watchdog-timeout", "300")
    assert new_demo_parts(before, snapshot(), LAST_RUN[0]) == []
    (result,) = data["scenarios"]
    assert result["problems"] == [], stderr[-3000:]
    assert rc == 0 and result["ok"] is True
    assert result["served_by"] == "pbx-a" and result["hand_backs"] == 1
    policy = [e["event"] for e in result["timeline"] if e["host"] == "pbx-b" and e["event"].startswith("policy: ")]
    tries = [p for p in policy if p.startswith("policy: takeover try ")]
    assert tries[-1] == "policy: takeover try 4 failed; retries spent" and len(tries) == 4  # 1 + policy.retries
    # pbx-a's power is cut and comes back, it boots, then pbx-b hands the units back and pbx-a takes over.
    events = [(e["host"], e["event"]) for e in result["timeline"]]
    cut, back = events.index(("pbx-a", "power cut")), events.index(("pbx-a", "power back"))
    handed = next(i for i, (h, e) in enumerate(events) if h == "pbx-b" and e.startswith("policy: hand-back ("))
    assert cut < events.index(("pbx-b", "takeover begins")) < back < events.index(("pbx-a", "pbx-a booted")) < handed
    assert handed < max(i for i, x in enumerate(events) if x == ("pbx-a", "takeover begins"))
    assert result["switchover"] is None
    assert result["address_on_both"] == [] and result["mount_on_both"] == []


@pytest.mark.privileged
def test_ping_pong_at_most_one_hand_back_each_alarm_on_both_and_no_loop() -> None:
    before = snapshot()
    rc, data, stderr = run_demo("--scenario", "ping-pong", "--units", "2", "--watchdog-timeout", "300", timeout=300)
    assert new_demo_parts(before, snapshot(), LAST_RUN[0]) == []
    (result,) = data["scenarios"]
    assert result["problems"] == [], stderr[-3000:]
    assert rc == 0 and result["ok"] is True
    assert result["served_by"] is None  # nobody can serve: the alarm says so
    assert result["hand_backs"] == 2
    alarms = {e["host"] for e in result["timeline"] if e["event"].startswith("policy: alarm: cannot serve")}
    assert alarms == {"pbx-a", "pbx-b"}
    # Bounded: pbx-a's first takeover and 4 tries, pbx-b's 4 tries twice, and the hand-backs' releases.
    assert sum(result["transitions"].values()) <= 20, result["transitions"]


@pytest.mark.privileged
def test_service_dies_pbx_a_gives_up_and_pbx_b_serves() -> None:
    before = snapshot()
    rc, data, stderr = run_demo("--scenario", "service-dies", "--units", "2", "--watchdog-timeout", "300")
    assert new_demo_parts(before, snapshot(), LAST_RUN[0]) == []
    (result,) = data["scenarios"]
    assert result["problems"] == [], stderr[-3000:]
    assert rc == 0 and result["ok"] is True
    assert result["served"] == ["pbx-a", "pbx-b"] and result["served_by"] == "pbx-b" and result["hand_backs"] == 1
    events = [(e["host"], e["event"]) for e in result["timeline"]]
    gave_up = next(i for i, (h, e) in enumerate(events) if h == "pbx-a" and e.startswith("policy: hand-back (given up: monitor"))
    assert events.index(("pbx-a", "monitor: restart exit 1")) < gave_up < events.index(("pbx-b", "takeover begins"))
    assert result["address_on_both"] == [] and result["mount_on_both"] == []
