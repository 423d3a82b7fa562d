"""The policy at work: look (:func:`situation`), decide (:func:`twinstar.policy.table.decide`), act.

Called where transitions run (the daemon, a hand-off runner, ``twinstar
takeover --follow-up``) after every transition and whenever the hook's plain
decision finds nothing to do in a situation the policy owns: split units, or
every unit here on a node whose takeover failed (:func:`twinstar.fastpath.policyfile.concerns`). What it
reads beyond the node's files (USB power, DRBD) is read only then.

* :func:`after_transition` records a takeover's outcome: success resets the
  tries, arms the watchdog of every unit here and clears the alarm; a failure
  counts a try and plans the next one (``policy.retry_delay``, doubled).
* :func:`consult` decides and acts once: a retry (through the hook's
  exactly-once hand-off, trigger ``retry``), a hand-back (watchdog off, then
  the switchover's release and jump: NOPWR refused, each unit confirmed gone),
  the alarm, or when to look again (:class:`Outcome` ``due``).

Every transition, hand-back and alarm is announced (:mod:`twinstar.policy.notify`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from twinstar import words
from twinstar.astribank.readiness import READY, Readiness
from twinstar.config import Config
from twinstar.engine.report import Report
from twinstar.fastpath import procid, statefile
from twinstar.fastpath.policyfile import PolicyView, hold_for, read_policy
from twinstar.fastpath.statefile import NodeView
from twinstar.policy import edges, notify, stepdown, store
from twinstar.policy.table import FAILED, REFUSED, Situation, Verdict, decide, retry_delay

#: The table's hand-backs after this node's own takeover failed (not a split): they raise the alarm.
FAILURE_ROWS = (12, 15, 16)
#: The table's rows whose takeover is the policy's retry; its other takeovers and releases are the hook's plain ones.
RETRY_ROWS = (13, 17)


@dataclass(frozen=True)
class Outcome:
    """What one consultation decided and did; ``due``: when to look again (boot clock), None: no need."""

    verdict: Verdict
    did: str
    due: float | None = None


def situation(
    config: Config,
    readiness: Readiness,
    node: NodeView,
    view: PolicyView,
    *,
    maintenance: bool,
    now: float,
    wall: float,
    power: Callable[[Config], bool | None] = edges.peer_powered,
    disks: Callable[[Config], tuple[str | None, str | None]] = edges.drbd_disks,
) -> Situation:
    """What the table needs, with the USB power and DRBD read only when a row depends on them."""
    policy = config.policy
    listed = len(readiness.listed)
    here = readiness.ready_count
    missing = tuple(item.entry.text for item in readiness.listed if item.state != READY)
    needs_power = here > 0 and (here < listed and node.role != words.ACTIVE or node.last_result in (FAILED, REFUSED))
    peer = power(config) if needs_power else None
    disk, peer_disk = disks(config) if node.role == words.FAILED and here == listed else (None, None)
    received = view.handed_back_at is not None and wall - view.handed_back_at < policy.hand_back_window
    return Situation(
        role=node.role,
        here=here,
        listed=listed,
        missing=missing,
        peer_powered=peer,
        disk=disk,
        peer_disk=peer_disk,
        last=node.last_result if node.role != words.ACTIVE else "ok",
        guard_may_clear=peer is not False,
        tries=max(0, view.tries - 1),
        retries=policy.retries,
        # A failure the policy did not count (a manual takeover) plans no retry: the operator decides.
        retry_due=view.retry_at is not None and now >= view.retry_at,
        received_back=received,
        split_over=view.split_since is not None and now - view.split_since >= policy.split_grace,
        maintenance=maintenance,
        hold=hold_for(readiness, view),
    )


class Announcer:
    """Announces the policy's events for one configuration (syslog, the notify commands)."""

    def __init__(self, config: Config) -> None:
        self.config = config

    def __call__(self, kind: str, message: str, *, failed: bool = False, **detail: object) -> None:
        policy = self.config.policy
        payload = notify.event(kind, self.config.node, message, **detail)
        notify.announce(payload, policy.notify, timeout=policy.notify_timeout, programs=self.config.program_map, failed=failed)


def after_transition(config: Config, action: str, report: Report, *, announce: Announcer | None = None) -> str:
    """Record a transition's outcome in the policy's memory, arm or note what follows; one line for the log."""
    announce = announce or Announcer(config)
    state_dir = config.state_dir
    verdict = "ok" if report.ok else ("refused" if report.exit_status == 3 else "failed")
    announce(notify.TRANSITION, f"{action} {verdict}: role {report.role.value}", failed=not report.ok, action=action,
             result=verdict, role=report.role.value, error=report.error)
    if store.units_back(state_dir, read_policy(state_dir)) is not None:
        _journal(config, "the units left and came back: the operator's hold ends")
    if action != words.TAKEOVER:
        return f"{action} {verdict}"
    if report.ok:
        view = read_policy(state_dir)
        store.update(state_dir, tries=0, spent=None, retry_at=None, split_since=None)
        if view.alarm is not None:
            clear_alarm(config, announce)
        return f"takeover ok; {_arm(config)}"
    view = read_policy(state_dir)
    tries = view.tries + 1
    spent = tries > config.policy.retries
    policy = config.policy
    delay = policy.slow_retry if spent else retry_delay(tries, policy.retry_delay, policy.slow_retry)
    store.update(state_dir, tries=tries, spent=True if spent else None, retry_at=procid.boottime() + delay)
    _journal(config, f"takeover try {tries} {verdict}" + (f"; retry in {delay:g} s" if not spent else "; retries spent"))
    return f"takeover try {tries} {verdict}; {'retries spent' if spent else f'next try in {delay:g} s'}"


def _arm(config: Config) -> str:
    """The watchdog of every unit here on: this node serves (the vendor: "after all of the services have started")."""
    if not config.astribanks.rearm_watchdog:
        return "watchdog left as it is (astribanks.rearm_watchdog: false)"
    try:
        return "watchdog armed: " + edges.watchdog_line(edges.set_watchdogs(config, True), True)
    except Exception as exc:  # noqa: BLE001 - serving matters more than the watchdog; reported
        return f"watchdog not armed: {exc}"


def _journal(config: Config, text: str) -> None:
    """A line in the node's journal (``policy``); never fatal."""
    from twinstar.engine.state import StateStore
    from twinstar.errors import TwinstarError

    try:
        StateStore(config.state_dir).journal({"ts": time.time(), "event": "policy", "node": config.node, "detail": text})
    except TwinstarError:
        pass


def raise_alarm(config: Config, view: PolicyView, text: str, announce: Announcer) -> None:
    """Record the alarm ``text`` (``view``: policy.json as read), journal and announce it; nothing when it is already raised."""
    if view.alarm == text:
        return
    store.update(config.state_dir, alarm=text, alarm_since=time.time())
    _journal(config, f"alarm: {text}")
    announce(notify.ALARM, text, failed=True)


def clear_alarm(config: Config, announce: Announcer) -> None:
    """Clear the alarm the caller found raised; journal and announce it."""
    view = store.update(config.state_dir, alarm=None, alarm_since=None)
    if view.alarm is None:
        _journal(config, "alarm cleared")
        announce(notify.ALARM_CLEARED, "alarm cleared")


def hand_back(config: Config, reason: str, *, announce: Announcer | None = None) -> tuple[bool, str, int]:
    """Watchdog off, release, jump every unit to the peer (refused without power there); record it.

    (moved, one line, the exit status: 0 moved, 3 refused, 1 failed).
    """
    from twinstar.ops.switchover import switchover_for

    announce = announce or Announcer(config)
    if edges.peer_powered(config) is not True:  # before the watchdog is touched: refused, nothing changed
        line = f"hand-back ({reason}) refused: the peer's port has no power (or no unit could be read); nothing was changed"
        announce(notify.HAND_BACK, line, failed=True, reason=reason, moved=False)
        return False, line, 3
    try:
        wd = edges.watchdog_line(edges.set_watchdogs(config, False), False)
    except Exception as exc:  # noqa: BLE001 - the jump below still refuses what it must
        wd = f"watchdog not disabled: {exc}"
    result = switchover_for(config).run(drain_timeout=0)
    moved = result.exit_status == 0
    view = read_policy(config.state_dir)
    if moved:
        store.update(
            config.state_dir, handed_back_at=time.time(), hand_backs=view.hand_backs + 1, tries=0, spent=None, retry_at=None,
            split_since=None, last_hand_back={"at": time.time(), "reason": reason},
        )
    line = f"hand-back ({reason}): {wd}; " + ("units jumped to the peer" if moved else f"FAILED: {result.error}")
    _journal(config, line)
    announce(notify.HAND_BACK, line, failed=not moved, reason=reason, moved=moved)
    return moved, line, int(result.exit_status)


def consult(
    config: Config,
    compute: Callable[[], Readiness],
    *,
    transition: Callable[[str], Report | None],
    maintenance: bool | None = None,
    announce: Announcer | None = None,
    power: Callable[[Config], bool | None] = edges.peer_powered,
    disks: Callable[[Config], tuple[str | None, str | None]] = edges.drbd_disks,
) -> Outcome:
    """Look, decide by the table, act once. ``transition`` runs a retry's takeover through the hook's
    exactly-once hand-off (None: another one is pending, or it is not due)."""
    announce = announce or Announcer(config)
    state_dir = config.state_dir
    readiness = compute()
    node = statefile.read_node(state_dir)
    view = read_policy(state_dir)
    if maintenance is None:
        maintenance = os.path.lexists(config.maintenance_file)
    now, wall = procid.boottime(), time.time()
    if readiness.none_present:
        if store.units_left(state_dir, view) is not None:
            _journal(config, "the units left: tries and split reset" + ("; the operator's hold ends when they are back" if view.hold else ""))
        if view.alarm is not None and view.alarm.startswith("units missing"):
            clear_alarm(config, announce)
    elif store.units_back(state_dir, view) is not None:
        _journal(config, f"the units are back: the operator's {view.hold} hold ends")
        announce(notify.HOLD, f"the operator's {view.hold} hold ended: the units left and came back", hold=None)
    view = read_policy(state_dir)
    partial = 0 < readiness.ready_count < len(readiness.listed)
    if partial and view.split_since is None:
        view = store.update(state_dir, split_since=now)
    elif not partial and view.split_since is not None:
        view = store.update(state_dir, split_since=None)
    s = situation(config, readiness, node, view, maintenance=maintenance, now=now, wall=wall, power=power, disks=disks)
    verdict = decide(s)
    if verdict.alarm is not None:
        raise_alarm(config, view, verdict.alarm, announce)
    elif (
        view.alarm is not None and not stepdown.owns(view.alarm) and verdict.action in (words.NOTHING, words.TAKEOVER)
        and s.here == s.listed and s.role == words.ACTIVE
    ):  # a step that cannot be restarted: the daemon clears its alarm when the step is up
        clear_alarm(config, announce)
    if verdict.action == words.WAIT:
        due = view.retry_at if s.here == s.listed else (view.split_since or now) + config.policy.split_grace
        return Outcome(verdict, "waiting", due)
    if verdict.action == words.TAKEOVER and verdict.row in RETRY_ROWS:
        report = transition(verdict.action)
        if report is None:
            return Outcome(verdict, f"{verdict.action} not handed off (another is pending or it is not due)")
        if report.ok:
            return Outcome(verdict, "retry ok")
        after = read_policy(state_dir)
        # Spent: look again at once (a hand-back may be due); else when the next try is.
        return Outcome(verdict, "retry failed", procid.boottime() if after.spent else after.retry_at)
    if verdict.action == words.HAND_BACK:
        moved, line, _ = hand_back(config, verdict.reason, announce=announce)
        if moved and verdict.row in FAILURE_ROWS:  # this node cannot serve: someone must look at it
            raise_alarm(config, read_policy(state_dir), f"cannot serve: {verdict.reason}", announce)
        return Outcome(verdict, line)
    if verdict.action == words.STAY and verdict.row == 17:
        return Outcome(verdict, "staying; the slow retry is due in policy.json (the daemon looks then)")
    return Outcome(verdict, "nothing" if verdict.action in (words.NOTHING, words.STAY) else "left to the hook's decision")
