"""twinstar's lines in a real journal: each step event once, found by identifier and by unit, errors at LOG_ERR.

Real parts: systemd and journald in a container, the installed units and
program. Stand-in: the fake sysfs (the xpp driver cannot load here).
"""

from __future__ import annotations

import re

import pytest

from tests.support.nspawn import HOOKDIR, Node
from tests.systemd.helpers import DAEMON, POLICY, TAKEOVER, command_step

pytestmark = pytest.mark.privileged

LOG_ERR, LOG_INFO = "3", "6"
PREFIX = re.compile(r"^twinstar: (error: |warning: )?")
STEP_EVENT = re.compile(r"^(takeover|release) \S+ (check|apply|verify|undo|verify-undone): ")
STEPS = command_step("fine", ["/bin/true"]) + command_step("broken", ["/bin/sh", "-c", "exit 7"])


def arrive(node: Node, count: int) -> list[dict[str, str]]:
    return [node.sysfs.arrive(i, label=f"usb:{i:08d}", connector=f"usb-0000:00:1d.7-{i}")[-1] for i in range(count)]


def twinstar_entries(node: Node, *match: str) -> list[dict[str, object]]:
    """The journal entries of ``journalctl -t twinstar MATCH...`` since the node's reset."""
    return node.journal_entries("-t", "twinstar", *match)


def step_events(entries: list[dict[str, object]]) -> list[tuple[str, str]]:
    """(message, priority) of the step events; a copy with a ``twinstar: [error: ]`` prefix counts as the same line."""
    found = []
    for e in entries:
        message = PREFIX.sub("", str(e.get("MESSAGE", "")))
        if STEP_EVENT.match(message):
            found.append((message, str(e.get("PRIORITY"))))
    return found


def assert_once_each_at_its_priority(events: list[tuple[str, str]]) -> None:
    messages = [m for m, _ in events]
    assert len(messages) == len(set(messages)), f"lines logged more than once: {messages}"
    assert events, "no step events in the journal"
    for message, priority in events:
        failed = ": failed (" in message
        assert priority == (LOG_ERR if failed else LOG_INFO), (message, priority)
    assert any(": failed (" in m for m in messages)


def test_a_handed_off_takeover_logs_each_step_event_once(node: Node) -> None:
    # The failed takeover hands its retry to twinstar-policy.service: one, soon, so that the job queue empties.
    node.configure(STEPS, units=1, extra="policy: {retry_delay: 0.2, retries: 1}\n")
    assert node.hook(arrive(node, 1)[0]).returncode == 0
    node.wait_job_done()
    by_unit = [e for e in node.journal_entries("-u", TAKEOVER) if e.get("SYSLOG_IDENTIFIER") == "twinstar"]
    events = step_events(by_unit)
    assert_once_each_at_its_priority(events)
    assert "takeover command:broken apply: failed" in " ".join(m for m, _ in events)
    # journalctl -t twinstar finds the same lines (plus the hook's own, outside the unit, and the retry's
    # in the policy unit).
    assert sorted(step_events([e for e in twinstar_entries(node) if e.get("_SYSTEMD_UNIT") != POLICY])) == sorted(events)
    assert step_events(twinstar_entries(node, f"_SYSTEMD_UNIT={POLICY}")), "the retry logged nothing"
    # No second rendering of the steps (the terminal's report) in the unit's journal.
    assert not [e for e in by_unit if str(e["MESSAGE"]).startswith(("result: ", "  command:"))]
    # The failed takeover's summary is an error too, once.
    summary = [e for e in by_unit if str(e["MESSAGE"]).startswith("takeover FAILED")]
    assert [str(e.get("PRIORITY")) for e in summary] == [LOG_ERR]


def test_the_daemon_logs_each_step_event_once(node: Node) -> None:
    node.configure(STEPS, units=1)
    arrive(node, 1)
    node.systemctl("start", DAEMON, check=True, timeout=60)  # evaluates at start: takes over (and fails)
    node.wait_until("the failed takeover", lambda: any("takeover FAILED" in m for m in node.journal("-u", DAEMON)), timeout=60)
    node.systemctl("stop", DAEMON, check=True, timeout=60)
    by_unit = [e for e in node.journal_entries("-u", DAEMON) if e.get("SYSLOG_IDENTIFIER") == "twinstar"]
    assert_once_each_at_its_priority(step_events(by_unit))


def test_the_hook_outside_any_unit_logs_once(node: Node) -> None:
    """A hook run by udev (here: the test, with udev's environment) logs its verdict through syslog, once."""
    node.configure(STEPS, handoff="inline", units=2)
    (event,) = arrive(node, 1)
    result = node.run([f"{HOOKDIR}/atribank_hook"], env=event)
    assert result.returncode == 0, result.stderr
    line = (
        "online XBUS-00: 1/2 ready, missing usb:00000001 (@usb-0000:00:1d.7-1); waiting for the listed units;"
        " policy: 1 of 2 units here and the peer's port has no power: waiting (nothing)"
    )
    assert [str(e["MESSAGE"]) for e in twinstar_entries(node) if "XBUS-00" in str(e.get("MESSAGE"))] == [line]
    assert result.stderr == f"twinstar: {line}\n"  # the caller's stderr has it too
