"""Hand a takeover, release or watchdog re-arm off, out of udev, exactly once.

udev kills what a RUN program leaves behind and blocks the device's events
while it runs, so the hook only decides; the work runs elsewhere:

* ``systemd``: ``systemctl start --no-block twinstar-takeover.service`` (or ``-release``);
* ``spawn``:   a fully detached process (double fork, new session, stdio on
  /dev/null, logging to syslog) running ``python -m twinstar.cli.handoff_runner ACTION --config PATH``;
  from the udev hook's own process (single-threaded, exiting right after),
  the detached process runs the same runner without a new interpreter, with
  what the hook already loaded (:attr:`~twinstar.fastpath.hooksettings.HookSettings.fork_runner`);
  a takeover first wakes the prepared runner when one waits on its FIFO
  (:mod:`twinstar.hotplug.prepared`, :func:`~twinstar.fastpath.detach.wake_prepared`), recorded with its pid;
* ``inline``:  in this process (the daemon, tests);
* ``auto``:    ``systemd`` when ``/run/systemd/system`` exists, else ``spawn``.

Exactly once: the final decision is taken again under an flock on
``state_dir/handoff.lock`` with fresh readiness and state, and each hand-off
is recorded in ``state_dir/handoff.json`` (action, time, mode, pid and its
start time when known). A recorded hand-off blocks another one while it is
pending: its process is alive (pid reuse is ruled out by the start time), or
for ``systemd`` it is younger than :data:`SYSTEMD_GRACE`, and no transition
has begun since. The engine's own lock held by another process also blocks.
A hand-off whose process is gone without progress, or a ``starting`` state
whose process died, is stale and blocks nothing.

Only :func:`twinstar.fastpath.statefile.read_node` runs on the hook's fast
path; everything here imports what it needs when it acts. An ``inline`` hand-off
is only recorded here: the caller (:func:`twinstar.hotplug.hook.evaluate`)
runs the transition.
"""

from __future__ import annotations

import os
import time

from twinstar import settings as tsettings
from twinstar import words
from twinstar.fastpath import procid, statefile
from twinstar.fastpath.detach import (
    in_fork,
    resolve_mode,
    runner_argv,
    runner_env,
    spawn_detached,
    wake_prepared,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    # Types only: the hook never imports ``typing``.
    from typing import NotRequired, TypedDict

    from twinstar.astribank.readiness import Readiness
    from twinstar.config import Config
    from twinstar.fastpath.decision import Decision
    from twinstar.fastpath.hooksettings import HookSettings
    from twinstar.fastpath.statefile import NodeView

    class HandoffRequest(TypedDict):
        """One hand-off, as its maker records it."""

        action: str  # takeover, release or switchover
        time: float  # wall clock, for people
        mode: str  # systemd, spawn, inline or switchover
        node: str
        pid: int | None  # the process doing it; None for systemd
        start: NotRequired[int | None]  # that process's start time (procid), with pid

    class HandoffRecord(HandoffRequest):
        """``handoff.json``: the request stamped with the boot clock that :func:`pending` compares."""

        at: float
        boot_id: str

SYSTEMD = words.SYSTEMD
SPAWN = words.SPAWN
INLINE = words.INLINE
AUTO = words.AUTO
MODES = words.HANDOFF_MODES

#: How long a ``systemd`` hand-off (no pid to watch) blocks another one.
SYSTEMD_GRACE = 60.0
#: How long a hook waits for ``handoff.lock`` (held only while deciding and handing off).
LOCK_WAIT = 30.0
#: Transitions one evaluation may chain (takeover, then release because units left meanwhile...).
MAX_CHAIN = 3
#: Niceness a watchdog re-arm adds: every ``online`` event re-arms its unit, and
#: those re-arms (Python, configuration, pyusb) must not take CPU from the takeover.
REARM_NICE = 10



# --- the hand-off record -------------------------------------------------------------------


def record_path(state_dir: str) -> str:
    return f"{state_dir}/{tsettings.HANDOFF_FILE}"


def read_record(state_dir: str) -> dict[str, object] | None:
    try:
        return statefile.read_object(record_path(state_dir))
    except Exception:  # noqa: BLE001 - a torn or foreign record is treated as absent
        return None


def write_record(state_dir: str, request: HandoffRequest) -> None:
    """Write the hand-off record, stamped with the boot clock (``at``, ``boot_id``) that :func:`pending` compares."""
    from twinstar.engine.statedir import write_json

    record: HandoffRecord = {**request, "at": procid.boottime(), "boot_id": procid.boot_id()}
    write_json(record_path(state_dir), record)


def pending(state_dir: str, node: NodeView, record: dict[str, object] | None) -> str | None:
    """What still blocks a new hand-off, or None.

    Times are compared on the boot clock, which setting the wall clock does
    not move; a record from an earlier boot, or without that stamp, is stale.
    """
    from twinstar.fastpath.lockprobe import held_by_other

    if held_by_other(f"{state_dir}/{tsettings.LOCK_FILE}"):
        return "a takeover or release is running (the engine lock is held)"
    if not record:
        return None
    when = procid.this_boot(record.get("at"), record.get("boot_id"))
    if node.since_this_boot >= when:
        return None  # a transition began after this hand-off (it was taken up), or another boot's
    age = procid.boottime() - when
    what = f"{record.get('action')} handed off {age:.1f} s ago ({record.get('mode')}"
    pid = record.get("pid")
    if pid is not None:
        if procid.process_alive(pid, record.get("start"), record.get("boot_id")):
            return f"{what}, pid {pid})"
        return None  # its process is gone and nothing happened: stale
    if age < SYSTEMD_GRACE:
        return what + ")"
    return None


# --- acting ------------------------------------------------------------------------------------


#: What :func:`parse_runner_args` accepts.
RUNNER_USAGE = (
    "usage: python -m twinstar.cli.handoff_runner takeover|release|policy --config PATH | rearm --config PATH BUSNUM DEVNUM"
    " | prepare --config PATH [SECONDS]"
)


def parse_runner_args(args: list[str]) -> tuple[str, str, tuple[int, int] | None] | None:
    """The action, configuration path and (for ``rearm``) USB bus and device of :func:`runner_argv`; None when malformed.

    ``prepare`` takes an optional wait in seconds instead (returned as ``(SECONDS, 0)``).
    """
    if len(args) < 3 or args[0] not in (words.TAKEOVER, words.RELEASE, "rearm", "policy", "prepare") or args[1] != "--config":
        return None
    action, path, rest = args[0], args[2], args[3:]
    if action == "prepare":
        if len(rest) > 1 or not all(a.isdigit() for a in rest):
            return None
        return action, path, (int(rest[0]), 0) if rest else None
    if (action == "rearm") != (len(rest) == 2) or not all(a.isdigit() for a in rest):
        return None
    return action, path, (int(rest[0]), int(rest[1])) if rest else None


def _systemctl(settings: HookSettings, unit: str) -> None:
    from twinstar.engine.proc import ProgramRunner

    ProgramRunner(programs=dict(settings.programs)).run(["systemctl", "start", "--no-block", unit], timeout=30)


def prepared_unit(settings: HookSettings) -> str:
    """Start ``twinstar-prepared.service`` unless a prepared runner holds its lock already; what was done."""
    from twinstar.fastpath.detach import ALREADY_PREPARED, PREPARED_LOCK

    return _start_unless_busy(settings, PREPARED_LOCK, ALREADY_PREPARED, tsettings.PREPARED_UNIT, "preparing a takeover runner")


def policy_unit(settings: HookSettings) -> str:
    """Start ``twinstar-policy.service`` unless a pair-policy runner is looking already; what was done."""
    from twinstar.fastpath.detach import POLICY_LOOKING, POLICY_RUN_LOCK

    return _start_unless_busy(settings, POLICY_RUN_LOCK, POLICY_LOOKING, tsettings.POLICY_UNIT, "policy handed off to systemd")


def _start_unless_busy(settings: HookSettings, lock: str, busy_note: str, unit: str, started: str) -> str:
    """``busy_note`` when a runner holds ``state_dir/lock``; else ``unit`` started: ``STARTED (UNIT)``."""
    from twinstar.fastpath.detach import runner_busy

    busy = runner_busy(settings.state_dir, lock, busy_note)
    if busy is not None:
        return busy
    _systemctl(settings, unit)
    return f"{started} ({unit})"


def retry_in_policy_unit(settings: HookSettings) -> None:
    """After a takeover that failed in one of twinstar's units: under ``systemd``, its retries wait in
    ``twinstar-policy.service`` (:func:`policy_unit`), as a spawned runner waits for them itself; logged."""
    from twinstar.fastpath.syslogsend import log_line

    if resolve_mode(settings.handoff) != SYSTEMD:
        return
    try:
        log_line(f"after takeover: {policy_unit(settings)}")
    except Exception as exc:  # noqa: BLE001 - the takeover's outcome stands; the next event or the daemon retries
        log_line(f"after takeover: policy not handed off: {exc}", error=True)


def _wake_prepared(settings: HookSettings, action: str) -> int | None:
    """For a takeover, the pid of the prepared runner woken (:func:`~twinstar.fastpath.detach.wake_prepared`), else None."""
    if action != words.TAKEOVER:
        return None
    pid, note = wake_prepared(settings.state_dir)
    if note is not None:
        from twinstar.fastpath.syslogsend import log_line

        log_line(note, error=True)
    return pid


def act(
    settings: HookSettings,
    compute: Callable[[], Readiness],
    *,
    trigger: str,
    event_time: float | None,
    mode: str,
    environ: Mapping[str, str],
) -> tuple[Decision, str | None, str | None]:
    """Decide again under ``handoff.lock`` with fresh readiness and state, and hand off.

    Returns the final decision, what was handed off (None: nothing) and the
    hand-off mode used (None: nothing); for ``inline`` the caller runs the
    transition, after the lock is released.
    """
    from twinstar.engine.lock import FileLock
    from twinstar.fastpath.decision import NOTHING, decide_for
    from twinstar.fastpath.policyfile import read_policy

    with FileLock(f"{settings.state_dir}/{tsettings.HANDOFF_LOCK_FILE}", timeout=LOCK_WAIT):
        readiness = compute()
        node = statefile.read_node(settings.state_dir)
        decision = decide_for(
            readiness,
            node,
            maintenance=os.path.lexists(settings.maintenance_file),
            pending=pending(settings.state_dir, node, read_record(settings.state_dir)),
            trigger=trigger,
            event_time=event_time,
            policy=read_policy(settings.state_dir),
        )
        if decision.action == NOTHING:
            return decision, None, None
        action = decision.action
        how = resolve_mode(mode)
        record: HandoffRequest = {"action": action, "time": time.time(), "mode": how, "node": settings.node, "pid": None}
        if how == SYSTEMD:
            pid = _wake_prepared(settings, action)
            if pid is not None:
                handed = f"{action} handed off to the prepared runner ({tsettings.PREPARED_UNIT}, pid {pid})"
                record["pid"], record["start"] = pid, procid.process_start(pid)
            else:
                unit = tsettings.TAKEOVER_UNIT if action == "takeover" else tsettings.RELEASE_UNIT
                _systemctl(settings, unit)
                handed = f"{action} handed off to systemd ({unit})"
        elif how == SPAWN:
            pid = _wake_prepared(settings, action)
            if pid is not None:
                handed = f"{action} handed off to a detached process (pid {pid}, prepared)"
            else:
                argv = runner_argv(settings, action)
                pid = spawn_detached(argv, runner_env(environ), run=in_fork(settings, argv))
                handed = f"{action} handed off to a detached process (pid {pid})"
            record["pid"], record["start"] = pid, procid.process_start(pid)
        else:
            record["pid"], record["start"] = os.getpid(), procid.process_start(os.getpid())
            handed = f"{action} running in this process"
        write_record(settings.state_dir, record)
    return decision, handed, how


def rearm(settings: HookSettings, busnum: int, devnum: int, *, mode: str, environ: Mapping[str, str]) -> str:
    """Hand the re-arm of one unit's watchdog off (USB code never runs in the hook)."""
    how = resolve_mode(mode)
    if how == SYSTEMD:
        unit = tsettings.REARM_UNIT.format(f"{busnum:03d}-{devnum:03d}")
        _systemctl(settings, unit)
        return f"watchdog re-arm handed off to systemd ({unit})"
    if how == SPAWN:
        pid = spawn_detached(runner_argv(settings, "rearm", str(busnum), str(devnum)), runner_env(environ), background=True)
        return f"watchdog re-arm handed off (pid {pid})"
    from twinstar.hotplug.configuration import full_config

    before = lower_priority(REARM_NICE)
    try:
        return rearm_watchdog(full_config(settings), busnum, devnum, environ=environ)
    finally:
        restore_priority(before)


def lower_priority(increment: int) -> int | None:
    """Add ``increment`` to the calling thread's niceness (:func:`twinstar.engine.proc.set_niceness`); the niceness before, None when it cannot be read.

    On Linux the niceness belongs to the thread, so a daemon re-arming inline
    lowers only the thread doing it, and only until :func:`restore_priority`.
    """
    from twinstar.engine.proc import set_niceness

    try:
        before = os.getpriority(os.PRIO_PROCESS, 0)
    except OSError:
        return None
    set_niceness(min(before + increment, 19))
    return before


def restore_priority(before: int | None) -> None:
    """Back to the niceness :func:`lower_priority` found (needs CAP_SYS_NICE, as root has; without it this
    thread stays lower, which is safe)."""
    from twinstar.engine.proc import set_niceness

    if before is not None:
        set_niceness(before)


def rearm_watchdog(config: Config, busnum: int, devnum: int, *, environ: Mapping[str, str] | None = None) -> str:
    """Enable the TwinStar watchdog of the unit at USB ``busnum``/``devnum``; what was done.

    The USB side lives in :mod:`twinstar.usb.watchdog` (pyusb is imported
    only there); this is the one place the hotplug path calls it.
    """
    from twinstar.usb.watchdog import rearm_watchdog as usb_rearm

    return usb_rearm(config, busnum, devnum, environ=environ)
