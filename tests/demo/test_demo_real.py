"""``twinstar demo`` with the real stack (the default), once per scenario, whole process, as root.

Real parts, beyond the light demo's: each server is a container booting a
real systemd (nspawn on an overlay of ``/``); Debian's ``mariadb``,
``kamailio`` and ``apache2`` units started by the takeover's service steps;
``twinstar replica add`` and ``replica link`` setting the servers up; SIPp,
our SIP phone, the PyMySQL writer and the web fetcher as the clients.
Stand-ins, as in the light demo: the USB simulator (units), fake sysfs trees
(the xpp driver) and the drbdadm stand-in (DRBD's roles).
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import REPO
from tests.demo.leftovers import new_demo_parts, snapshot
from tests.demo.test_demo_e2e import LAST_RUN, TWINSTAR, run_without
from twinstar.demo import events

STEPS = {"dahdi", "drbd:r0", "ip:10.213.0.100/24", "service:mariadb", "service:kamailio", "service:apache2"}


def run_real(*args: str) -> tuple[int, dict[str, Any], str, int]:
    """``twinstar demo --json ARGS``: its exit status, its JSON, its stderr and its PID (its names carry it)."""
    proc = subprocess.Popen([TWINSTAR, "demo", "--json", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=REPO)  # fmt: skip
    try:
        out, err = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    try:
        return proc.returncode, json.loads(out), err, proc.pid
    except ValueError:
        pytest.fail(f"demo printed no JSON (exit {proc.returncode}): {out[-2000:]} {err[-3000:]}")


@pytest.mark.privileged
@pytest.mark.parametrize("scenario", ["power-loss", "switchover"])
def test_the_real_stack_fails_over_keeping_every_row_and_the_registration(scenario: str) -> None:
    before = snapshot()
    rc, data, stderr, pid = run_real("--scenario", scenario)
    assert new_demo_parts(before, snapshot(), pid) == []
    (r,) = data["scenarios"]
    assert r["problems"] == [], stderr[-3000:]
    assert rc == 0 and r["ok"] is True and r["stack"] == "real"
    assert r["address_on_both"] == [] and r["mount_on_both"] == []
    assert set(r["takeover_steps_ms"]) == STEPS
    assert set(r["service_start_ms"]) == {"mariadb", "kamailio", "apache2"}
    assert all(v > 0 for v in r["service_start_ms"].values())
    # All three asked for together (a parallel group), while MariaDB started; systemd started Kamailio,
    # which needs the database, once MariaDB was up, and Apache after Kamailio (their units' order).
    at, up = r["service_started_at_ms"], r["service_up_at_ms"]
    assert max(at.values()) < up["mariadb"] < up["kamailio"] < up["apache2"], (at, up)
    # Every commit the writer saw acknowledged is on pbx-b.
    assert r["db_rows_acknowledged"] > 0 and r["db_rows_missing"] == 0
    assert r["db_rows_present"] >= r["db_rows_acknowledged"]
    # The phone registered once, on pbx-a; pbx-b found it in the shared database.
    assert r["registration_found"] is True
    assert r["registration"]["registered_on"] == "pbx-a" and r["registration"]["found_on"] == "pbx-b"
    # The SIP outage is SIPp's: its answers by server and its failed calls.
    assert r["sip_answered_by"]["pbx-a"] > 0 and r["sip_answered_by"]["pbx-b"] > 0
    assert r["sip_outage_ms"] > 0 and r["sip_options_unanswered"] >= 1
    assert r["sip_failed_calls"] >= r["sip_options_unanswered"]
    assert r["outage_ms"] == pytest.approx(r["sip_outage_ms"], abs=1)
    assert r["http_outage_ms"] > 0
    if scenario == "switchover":
        assert r["switchover"]["exit_status"] == 0
        assert set(r["release_steps_ms"]) == STEPS


@pytest.mark.privileged
@pytest.mark.parametrize(("scenario", "serves", "handed_by"), [("failed-takeover", "pbx-a", "pbx-b"), ("service-dies", "pbx-b", "pbx-a")])
def test_the_real_stack_failure_scenarios_end_with_the_server_that_can_serve(scenario: str, serves: str, handed_by: str) -> None:
    """failed-takeover: kamailio.service cannot start on pbx-b (a drop-in), pbx-a's power is cut and comes
    back (its container boots again); service-dies: kamailio dies on pbx-a and cannot start again."""
    before = snapshot()
    rc, data, stderr, pid = run_real("--scenario", scenario)
    assert new_demo_parts(before, snapshot(), pid) == []
    (r,) = data["scenarios"]
    assert r["problems"] == [], stderr[-3000:]
    assert rc == 0 and r["ok"] is True and r["stack"] == "real"
    assert r["served_by"] == serves and r["hand_backs"] == 1
    events = [(e["host"], e["event"]) for e in r["timeline"]]
    assert any(h == handed_by and e.startswith("policy: hand-back (") for h, e in events)
    assert r["address_on_both"] == [] and r["mount_on_both"] == []
    # Every commit the writer saw acknowledged is on the server that serves at the end.
    assert r["db_rows_acknowledged"] > 0 and r["db_rows_missing"] == 0
    assert r["sip_answered_by"].get(serves, 0) > 0
    if scenario == "failed-takeover":
        assert r["served"] == ["pbx-a"] and not r["sip_answered_by"].get("pbx-b")
        assert ("pbx-a", "power back") in events and ("pbx-a", "pbx-a booted") in events
    else:
        assert r["served"] == ["pbx-a", "pbx-b"] and r["registration_found"] is True
        assert ("pbx-a", "monitor: restart exit 1") in events


@pytest.mark.privileged
def test_ping_pong_on_the_real_stack_ends_in_the_alarm_then_the_operators_recovery_keeps_every_row() -> None:
    """kamailio.service cannot start on either server (a drop-in). The scenario's end, before the operator
    acts: one hand-back each, the alarm on both, nobody answering SIPp. Then the operator's recovery on
    pbx-b (the drop-in removed, ``twinstar takeover``): pbx-b serves, every acknowledged row is there
    (also those committed while a failed try had MariaDB up) and the phone registered on pbx-a is found."""
    before = snapshot()
    rc, data, stderr, pid = run_real("--scenario", "ping-pong")
    assert new_demo_parts(before, snapshot(), pid) == []
    (r,) = data["scenarios"]
    assert r["problems"] == [], stderr[-3000:]
    assert rc == 0 and r["ok"] is True and r["stack"] == "real"
    # The scenario's own outcome: no ping-pong, the alarm, nobody serving.
    assert r["hand_backs"] == 2
    timeline = [(e["host"], e["event"]) for e in r["timeline"]]
    alarms = {h for h, e in timeline if e.startswith("policy: alarm: cannot serve")}
    assert alarms == {"pbx-a", "pbx-b"}
    assert any(h == "pbx-b" and "no ping-pong" in e for h, e in timeline)
    assert sum(r["transitions"].values()) <= 21, r["transitions"]  # the light stack's bound and the operator's takeover
    recovery = r["recovery"]
    assert recovery["served_before"] is None and recovery["alarms"] == ["pbx-a", "pbx-b"]
    assert recovery["on"] == "pbx-b" and recovery["takeover_exit"] == 0
    begins = timeline.index(("pbx-b", "operator: recovery begins"))
    assert begins > max(i for i, (h, e) in enumerate(timeline) if e.startswith("policy: alarm: cannot serve"))
    assert ("pbx-b", "operator: twinstar takeover exit 0") in timeline[begins:]
    # Never both, the whole run through.
    assert r["address_on_both"] == [] and r["mount_on_both"] == []
    # After the recovery, on pbx-b: every acknowledged row, and the registration without registering again.
    assert r["served"] == ["pbx-a", "pbx-b"] and r["served_by"] == "pbx-b"
    assert r["db_rows_acknowledged"] > 0 and r["db_rows_missing"] == 0
    assert r["registration_found"] is True
    assert r["registration"]["registered_on"] == "pbx-a" and r["registration"]["found_on"] == "pbx-b"


@pytest.mark.privileged
def test_the_real_stack_without_sipp_names_the_package_and_exits_2() -> None:
    """``sipp`` hidden by a bind mount of /dev/null (not executable) in a private mount namespace."""
    before = snapshot()
    proc = run_without("mount --bind /dev/null /usr/bin/sipp")
    assert proc.returncode == 2, proc.stderr
    assert "needs these packages, which are not installed: sip-tester (sipp)" in proc.stderr
    assert "apt-get install sip-tester" in proc.stderr and "--stack light" in proc.stderr
    assert len(proc.stderr.splitlines()) == 1 and "Traceback" not in proc.stderr
    assert new_demo_parts(before, snapshot(), LAST_RUN[0]) == []


def seen(log: str, host: str, prefix: str) -> bool:
    return any(e["host"] == host and e["event"].startswith(prefix) for e in events.read(log))


#: Moments of a real-stack run to press Ctrl-C at: a container booting, pbx-a being set up, pbx-b's services starting.
REAL_INTERRUPTS: dict[str, Callable[[int, str], bool]] = {
    "pbx-a booting": lambda pid, log: os.path.isdir(f"/var/tmp/tsdemo-{pid}-nodes/a/root/etc"),
    "pbx-a's replica set up": lambda pid, log: os.path.exists(f"/var/tmp/tsdemo-{pid}/a/replica-managed.json"),
    "pbx-b starting its services": lambda pid, log: seen(log, "pbx-b", "address added"),
}


@pytest.mark.privileged
@pytest.mark.parametrize("moment", list(REAL_INTERRUPTS))
def test_ctrl_c_during_the_real_stack_removes_everything(moment: str) -> None:
    """SIGINT as soon as ``moment`` is seen; afterwards no container, overlay, namespace, loop, process or cgroup
    of the run is left."""
    before = snapshot()
    proc = subprocess.Popen([TWINSTAR, "demo", "--scenario", "power-loss"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=REPO)  # fmt: skip
    log = f"/var/tmp/tsdemo-{proc.pid}/events.jsonl"
    try:
        deadline = time.monotonic() + 300
        while not REAL_INTERRUPTS[moment](proc.pid, log):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, f"{moment} never happened"
            time.sleep(0.005)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert new_demo_parts(before, snapshot(), proc.pid) == [], err


@pytest.mark.privileged
def test_keep_leaves_the_running_containers_and_names_the_commands_that_remove_them() -> None:
    before = snapshot()
    rc, data, stderr, pid = run_real("--keep", "--scenario", "power-loss", "--units", "1")
    (r,) = data["scenarios"]
    commands = [shlex.split(c) for c in r["kept"]]
    try:
        assert rc == 0 and r["ok"] is True, stderr[-3000:]
        left = new_demo_parts(before, snapshot(), pid)
        assert any(p.startswith("mount ") and p.endswith("-nodes/b/root") for p in left)
        assert any(p.startswith("cgroup ") for p in left)  # pbx-b's systemd runs in it
        assert any(p.startswith("loop ") for p in left)
    finally:
        for argv in commands:  # as an operator pastes them: one after the other, at once
            subprocess.run(argv, capture_output=True, timeout=30)
        gone = time.monotonic() + 30
        while new_demo_parts(before, snapshot(), pid) and time.monotonic() < gone:
            time.sleep(0.1)  # a killed container's processes take a moment to be reaped
        left = new_demo_parts(before, snapshot(), pid)
        for argv in commands:  # the cgroups can only go once every process in them is gone
            if argv[0] == "rmdir":
                subprocess.run(argv, capture_output=True, timeout=30)
    assert new_demo_parts(before, snapshot(), pid) == [], left
