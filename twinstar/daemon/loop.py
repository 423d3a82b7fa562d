"""``twinstar daemon``: the long-running alternative to the udev hook.

One loop, one thread, one idea: ``select`` on the uevent monitor, a signal
self-pipe and the next timer, and the work each of them starts (evaluate,
check the steps, re-announce, notify systemd, reload, stop). The parts it
drives are modules of their own (``decide``, ``stepcheck``, ``monitor``,
``notify``, ``status``); docs/architecture.md tells the whole story.
"""

from __future__ import annotations

import errno
import logging
import os
import select
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from types import FrameType
from typing import Any, Protocol, runtime_checkable

from twinstar import config as config_mod
from twinstar import settings
from twinstar.config import Config, OnStepDown
from twinstar.daemon.decide import Decide, going_to_take_over, shared_decide
from twinstar.daemon.monitor import EventSource, MonitorError, Uevent
from twinstar.daemon.notify import Notifier
from twinstar.daemon.status import (
    DaemonInfo,
    DaemonSnapshot,
    StepCheck,
    Unreadable,
)
from twinstar.daemon.stepcheck import LOG, RESTART, check_one, probe
from twinstar.engine.lock import FileLock
from twinstar.engine.runner import Engine, engine_for
from twinstar.engine.state import Role, StateStore
from twinstar.engine.statedir import ensure_dir, write_json
from twinstar.errors import LockBusyError, TwinstarError
from twinstar.fastpath import procid
from twinstar.fastpath.policyfile import read_policy
from twinstar.policy import stepdown
from twinstar.steps.base import Step, start_ahead
from twinstar.steps.early import AHEAD
from twinstar.words import TAKEOVER, WAIT

TYPE_CHECKING = False
if TYPE_CHECKING:
    from twinstar.engine.records import StepDownLine, Transition

log = logging.getLogger("twinstar.daemon")

#: At most this many queued events are handled before timers get a turn.
MAX_BURST = 1024
#: Wait this long before reopening a failed monitor, doubling up to evaluate_interval.
REOPEN_DELAY = 1.0


# --- what the periodic work needs from a step ------------------------------------------


@runtime_checkable
class Announcer(Protocol):
    """A step that can re-announce its address (the ip step)."""

    def announce(self, count: int) -> None: ...


@dataclass
class RestartTries:
    """A step found down: its restarts that failed in a row, and when (monotonic) the next one is due."""

    failures: int = 0
    due: float = 0.0


# --- the loop ---------------------------------------------------------------------------


class Daemon:
    """The event loop. Every edge is injected; :func:`run` wires the real ones."""

    def __init__(
        self,
        config: Config,
        *,
        config_path: str,
        open_monitor: Callable[[], EventSource],
        notifier: Notifier | None = None,
        decide: Decide = shared_decide,
        going_to_take_over: Callable[[Config, Uevent], bool] = going_to_take_over,
        load_config: Callable[[str], Config] = config_mod.load,
        build_engine: Callable[[Config], Engine] = engine_for,
        monotonic: Callable[[], float] = time.monotonic,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.config_path = config_path
        self.open_monitor = open_monitor
        self.notifier = notifier or Notifier()
        self.decide = decide
        self.going_to_take_over = going_to_take_over
        self.load_config = load_config
        self.build_engine = build_engine
        self.monotonic = monotonic
        self.clock = clock
        self.engine = build_engine(config)
        self.monitor: EventSource | None = None
        self.stopping = False
        self.ready = False
        self.evaluations = 0
        self._reopen_at = 0.0
        self._reopen_delay = REOPEN_DELAY
        self._empty_at = procid.boottime()  # the monitor was last seen without an event queued
        self._wake_r, self._wake_w = -1, -1
        self._old_signals: dict[int, Any] = {}
        self._old_wakeup = -1
        now = monotonic()
        self._next_eval = now
        self._next_check = now
        self._next_arp = now
        self._next_ping = now
        self._info: DaemonInfo = {
            "pid": os.getpid(),
            "node": config.node,
            "config": config_path,
            "started": clock(),
            "stopped": None,
            "ready": False,
            "readiness": None,
            "last_event": None,
            "last_evaluation": None,
            "checks": {},
            "last_check": None,
            "last_arp_refresh": None,
            "last_error": None,
            "last_reload": None,
        }
        self._written: DaemonSnapshot | None = None
        #: Per step found down: its restarts that failed in a row and when the next is due (twinstar.policy.stepdown).
        self._restarts: dict[str, RestartTries] = {}

    # -- life cycle ------------------------------------------------------------------

    def run(self) -> int:
        """Start, loop until SIGTERM/SIGINT, stop. Returns the exit status (0)."""
        self.start()
        try:
            while not self.stopping:
                self.run_once()
        finally:
            self.stop()
        return 0

    def start(self) -> None:
        """Install signal handling, open the monitor, evaluate once, tell systemd READY."""
        self._install_signals()
        self._open_monitor()
        self._evaluate(None, "start")
        self.ready = True
        self._info["ready"] = True
        self.notifier.ready(self.status_line())
        self._schedule_active_work()
        self._next_ping = self.monotonic()
        self._save()

    def stop(self) -> None:
        """Release first when configured to; then close everything and say so."""
        self.notifier.stopping(f"stopping; {self.status_line()}")
        if self.config.daemon.release_on_stop and self._role() != Role.STANDBY:
            log.info("stopping: release_on_stop is set, releasing")
            with self.notifier.keepalive():
                try:
                    report = self.engine.release()
                    log.info("release on stop: %s", "ok" if report.ok else report.error)
                except TwinstarError as exc:
                    self._error(f"release on stop failed: {exc}")
        else:
            log.info("stopping; resources left as they are (role %s)", self._role().value)
        if self.monitor is not None:
            self.monitor.close()
            self.monitor = None
        AHEAD.drop_all()
        self._info["stopped"] = self.clock()
        self._save(force=True)
        self._restore_signals()
        self.notifier.close()

    # -- one turn of the loop -----------------------------------------------------------

    def run_once(self, timeout: float | None = None) -> None:
        """Wait for an event, a signal or the next timer (at most ``timeout`` s); handle it."""
        if self.monitor is None and self.monotonic() >= self._reopen_at:
            self._open_monitor()
        wait = self._time_to_next() if timeout is None else min(timeout, self._time_to_next())
        fds = [self._wake_r] if self._wake_r >= 0 else []
        monitor_fd = self._monitor_fd()
        if monitor_fd is not None:
            fds.append(monitor_fd)
        try:
            readable, _, _ = select.select(fds, [], [], max(0.0, wait))
        except InterruptedError:  # pragma: no cover - PEP 475 retries select
            readable = []
        if self._wake_r in readable:
            self._handle_signals()
        if self.stopping:
            return
        if monitor_fd is not None and monitor_fd in readable:
            self._drain_monitor()
        self._run_timers()
        if not self.stopping:
            self._drain_monitor()  # seen empty right before waiting again: arrivals are stamped after the timers' work
        self._save()

    def _time_to_next(self) -> float:
        deadlines = [self._next_eval]
        if self._role() == Role.ACTIVE:
            if self.config.daemon.check_interval > 0:
                deadlines.append(self._next_check)
            if self.config.daemon.arp_refresh_interval > 0:
                deadlines.append(self._next_arp)
        if self.notifier.watchdog is not None:
            deadlines.append(self._next_ping)
        if self.monitor is None:
            deadlines.append(self._reopen_at)
        return max(0.0, min(deadlines) - self.monotonic())

    def _run_timers(self) -> None:
        now = self.monotonic()
        if self.notifier.watchdog is not None and now >= self._next_ping:
            self.notifier.ping()
            self._next_ping = now + self.notifier.watchdog
        if now >= self._next_eval:
            self._evaluate(None, "periodic")
        if self._role() != Role.ACTIVE:
            return
        daemon = self.config.daemon
        if daemon.check_interval > 0 and self.monotonic() >= self._next_check:
            self._next_check = self.monotonic() + daemon.check_interval
            self.check_steps()
        if daemon.arp_refresh_interval > 0 and self.monotonic() >= self._next_arp:
            self._next_arp = self.monotonic() + daemon.arp_refresh_interval
            self.refresh_arp()

    # -- events ------------------------------------------------------------------------

    def _monitor_fd(self) -> int | None:
        if self.monitor is None:
            return None
        try:
            return self.monitor.fileno()
        except (OSError, MonitorError, ValueError) as exc:
            self._monitor_failed(f"event monitor unusable: {exc}")
            return None

    def _open_monitor(self) -> None:
        self._empty_at = procid.boottime()
        try:
            self.monitor = self.open_monitor()
        except TwinstarError as exc:
            self._monitor_failed(str(exc))
            return
        self._reopen_delay = REOPEN_DELAY

    def _monitor_failed(self, message: str) -> None:
        """Log, drop the monitor, reopen it later and re-read sysfs now: events may be lost."""
        self._error(f"{message}; re-evaluating from sysfs, reopening the monitor in {self._reopen_delay:g} s")
        if self.monitor is not None:
            try:
                self.monitor.close()
            except (OSError, MonitorError):
                pass
        self.monitor = None
        self._reopen_at = self.monotonic() + self._reopen_delay
        self._reopen_delay = min(self._reopen_delay * 2, max(REOPEN_DELAY, self.config.daemon.evaluate_interval))
        self._next_eval = self.monotonic()

    def _drain_monitor(self) -> None:
        """Handle every queued event (a burst), each through the shared decision.

        Each is stamped as arrived when the monitor was last seen empty: an
        event that waited while an earlier one's takeover ran is older than
        that takeover's outcome.
        """
        for _ in range(MAX_BURST):
            if self.monitor is None:
                return
            looked = procid.boottime()
            try:
                event = self.monitor.poll(0)
            except MonitorError as exc:
                self._monitor_failed(str(exc))
                return
            if event is None:
                self._empty_at = looked
                return
            if event.arrived is None:
                event = replace(event, arrived=self._empty_at)
            self.handle_event(event)
            if self.stopping:
                return

    def handle_event(self, event: Uevent) -> None:
        self._info["last_event"] = {"action": event.action, "devpath": event.devpath, "at": self.clock()}
        self._start_ahead(event)
        self._evaluate(event, event.describe())

    def _start_ahead(self, event: Uevent) -> None:
        """A unit's event while a listed unit is present and this node is going to take over: the steps' slow
        safety probes start now (the ip step's duplicate-address detection), for the takeover's steps to adopt
        (:data:`AHEAD`). Without such a step, nothing is read.

        Read-only, so a probe whose takeover does not come is only dropped;
        a failure here is logged and leaves each step to probe in its turn.
        """
        if not any(step.starts_ahead for step in self.engine.steps):
            return
        try:
            if not self.going_to_take_over(self.config, event):
                return
        except Exception as exc:  # noqa: BLE001 - never in the way of the decision
            log.debug("no probe started ahead (%s): %s", event.describe(), exc)
            return
        for failure in start_ahead(self.engine.steps):
            log.debug("no probe started ahead (%s): %s", event.describe(), failure)

    # -- evaluation ----------------------------------------------------------------------

    def _evaluate(self, event: Uevent | None, why: str) -> None:
        """One decision through the hook's code; the transition (if any) runs here."""
        self._next_eval = self.monotonic() + self.config.daemon.evaluate_interval
        before = self._role()
        try:
            with self.notifier.keepalive():
                result = self.decide(self.config, event)
        except TwinstarError as exc:
            self._error(f"evaluation ({why}): {exc}")
            return
        except Exception as exc:  # noqa: BLE001 - one bad event must not stop the daemon
            log.exception("evaluation (%s) failed unexpectedly", why)
            self._error(f"evaluation ({why}): unexpected {type(exc).__name__}: {exc}")
            return
        self.evaluations += 1
        if result.decision != "ignored":
            self._info["readiness"] = result.readiness or {"summary": result.summary}
        self._info["last_evaluation"] = {"at": self.clock(), "why": why, "decision": result.decision, "line": result.line}
        after = self._role()
        if not result.ok:
            self._error(result.line)
        elif event is not None or result.acted:
            log.info("%s", result.line)
        else:
            log.debug("%s", result.line)
        if result.acted or after != before:
            log.info("role %s -> %s", before.value, after.value)
            if after == Role.FAILED:
                self._error(f"{result.decision} failed: role is failed (twinstar status, journal in {self.config.state_dir})")
            self._schedule_active_work()
        self._schedule_policy()
        AHEAD.drop_stale()  # a probe started ahead that its takeover can no longer use lets go of its socket
        if self.ready:
            self.notifier.status(self.status_line())

    def _schedule_policy(self) -> None:
        """Look again when the policy's next retry or the split's grace period is due (policy.json)."""
        view = read_policy(self.config.state_dir)
        dues = [view.retry_at] if view.retry_at is not None else []
        if view.split_since is not None:
            dues.append(view.split_since + self.config.policy.split_grace)
        now = procid.boottime()
        for due in dues:
            if due > now:
                self._next_eval = min(self._next_eval, self.monotonic() + (due - now))

    def _schedule_active_work(self) -> None:
        """Checks and announcements start one interval after the node became active."""
        now = self.monotonic()
        self._next_check = now + self.config.daemon.check_interval
        self._next_arp = now + self.config.daemon.arp_refresh_interval

    # -- while active ----------------------------------------------------------------------

    @contextmanager
    def _while_active(self, what: str) -> Iterator[bool]:
        """Hold the engine's lock (without waiting) and yield whether the node is active.

        A takeover or release running in another process holds the lock: then
        this round is skipped rather than fighting it.
        """
        with ExitStack() as held:
            try:
                held.enter_context(FileLock(StateStore(self.config.state_dir).lock_path))
            except LockBusyError:
                log.debug("%s skipped: a takeover or release is running", what)
                yield False
                return
            except TwinstarError as exc:
                self._error(f"{what}: {exc}")
                yield False
                return
            yield self._role() == Role.ACTIVE

    def check_steps(self) -> dict[str, StepCheck]:
        """Run every step's check; log, journal and (per on_step_down and the policy) restart the ones down."""
        results: dict[str, StepCheck] = {}
        with self._while_active("step check") as active, self.notifier.keepalive():
            if not active:
                if self._role() != Role.ACTIVE:  # not while another process's transition holds the lock: the bound holds
                    self._restarts.clear()
                return results
            maintenance = os.path.lexists(self.config.maintenance_file)
            for step in self.engine.steps:
                results[step.name] = self._check_one(step, maintenance)
        self._info["checks"] = results
        self._info["last_check"] = self.clock()
        self._after_restarts(results, maintenance)
        return results

    def _check_one(self, step: Step, maintenance: bool) -> StepCheck:
        def when_down() -> str:
            if self.config.daemon.on_step_down != OnStepDown.RESTART:
                return LOG
            tries = self._restarts.get(step.name, RestartTries())
            # Whether to restart does not depend on the peer's power: read only when a restart failed (_after_restarts).
            verdict = self._step_verdict(step.name, tries, maintenance=maintenance, peer_powered=None)
            return RESTART if verdict.restart else (LOG if verdict.row == 1 else WAIT)

        return check_one(step, self._info["checks"].get(step.name), at=self.clock(), when_down=when_down, journal=self._journal, error=self._error)

    def _step_verdict(self, name: str, tries: RestartTries, *, maintenance: bool, peer_powered: bool | None) -> stepdown.StepVerdict:
        policy = self.config.policy
        return stepdown.decide(
            name, tries.failures, policy.retries, due=self.monotonic() >= tries.due, maintenance=maintenance,
            hold=read_policy(self.config.state_dir).hold, peer_powered=peer_powered,
        )

    def _after_restarts(self, results: dict[str, StepCheck], maintenance: bool) -> None:
        """Count the failed restarts (and plan the next, with backoff); a step whose restarts are spent: hand back, or stay and alarm."""
        policy = self.config.policy
        failed: list[str] = []
        for name, check in results.items():
            if check["action"] == "restart-failed":
                tries = self._restarts.setdefault(name, RestartTries())
                tries.failures += 1
                tries.due = self.monotonic() + stepdown.next_delay(tries.failures, policy.retry_delay, policy.slow_retry, policy.retries)
                failed.append(name)
            elif check["up"]:
                self._restarts.pop(name, None)
        if self._restarts:
            self._next_check = min(self._next_check, min(t.due for t in self._restarts.values()))
        spent = [n for n in failed if stepdown.spent(self._restarts[n].failures, policy.retries)]
        if not spent:
            if not self._restarts and results:
                self._clear_step_alarm()
            return
        from twinstar.policy import consult, edges

        name = spent[0]
        view = read_policy(self.config.state_dir)
        with self.notifier.keepalive():
            peer = edges.peer_powered(self.config) if view.hold != TAKEOVER else None
            verdict = self._step_verdict(name, self._restarts[name], maintenance=maintenance, peer_powered=peer)
            announce = consult.Announcer(self.config)
            if not verdict.hand_back:
                log.error("%s", verdict.reason)
                if verdict.alarm is not None:
                    consult.raise_alarm(self.config, view, verdict.alarm, announce)
                return
            moved, line, _ = consult.hand_back(self.config, stepdown.spent_reason(name, self._restarts[name].failures), announce=announce)
            alarm = f"{stepdown.CANNOT_SERVE}{verdict.reason}" + ("" if moved else f"; the hand-back failed: {line}")
            consult.raise_alarm(self.config, read_policy(self.config.state_dir), alarm, announce)
        self._restarts.clear()
        if moved:
            log.info("%s", line)
        else:
            self._error(line)
        self._evaluate(None, "after hand-back")

    def _clear_step_alarm(self) -> None:
        """Every step is up on the active node: the alarm raised for one that could not be restarted ends."""
        if stepdown.owns(read_policy(self.config.state_dir).alarm):
            from twinstar.policy import consult

            consult.clear_alarm(self.config, consult.Announcer(self.config))

    def _journal(self, line: StepDownLine) -> None:
        """Append to the node's journal; a journal that cannot be written (full, read-only) is logged, never fatal."""
        try:
            StateStore(self.config.state_dir).journal(line)
        except TwinstarError as exc:
            self._error(f"journal: {exc}")

    def refresh_arp(self) -> int:
        """Re-announce each address step that is up; the number announced."""
        count = 0
        with self._while_active("ARP refresh") as active:
            if not active:
                return 0
            for step in self.engine.steps:
                if not isinstance(step, Announcer):
                    continue
                if not probe(step).up:
                    continue  # never announce an address this node does not hold
                step.announce(1)
                count += 1
        self._info["last_arp_refresh"] = self.clock()
        return count

    # -- signals and reload ----------------------------------------------------------------

    def _install_signals(self) -> None:
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._old_wakeup = signal.set_wakeup_fd(self._wake_w, warn_on_full_buffer=False)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            self._old_signals[sig] = signal.signal(sig, _noted)

    def _restore_signals(self) -> None:
        for sig, handler in self._old_signals.items():
            signal.signal(sig, handler)
        self._old_signals.clear()
        if self._wake_w >= 0:
            signal.set_wakeup_fd(self._old_wakeup)
            os.close(self._wake_r)
            os.close(self._wake_w)
            self._wake_r = self._wake_w = -1

    def _handle_signals(self) -> None:
        try:
            data = os.read(self._wake_r, 512)
        except OSError as exc:
            if exc.errno == errno.EAGAIN:
                return
            raise
        for signum in data:
            if signum in (signal.SIGTERM, signal.SIGINT):
                log.info("%s received: stopping", signal.Signals(signum).name)
                self.stopping = True
            elif signum == signal.SIGHUP and not self.stopping:
                self.reload()

    def reload(self) -> bool:
        """Load and validate the configuration again; keep the old one when it is invalid."""
        self.notifier.reloading()
        try:
            new = self.load_config(self.config_path)
            engine = self.build_engine(new)
            engine.preflight()
        except TwinstarError as exc:
            self._info["last_reload"] = {"at": self.clock(), "ok": False, "error": str(exc)}
            self._error(f"reload: keeping the previous configuration: {exc}")
            self.notifier.reloaded(self.status_line())
            return False
        self.config, self.engine = new, engine
        AHEAD.drop_all()  # started for the previous configuration's steps
        self._info["node"] = new.node
        self._info["last_reload"] = {"at": self.clock(), "ok": True, "error": None}
        log.info("reloaded configuration from %s", self.config_path)
        self._evaluate(None, "reload")
        self._schedule_active_work()
        self.notifier.reloaded(self.status_line())
        self._save(force=True)
        return True

    # -- state -----------------------------------------------------------------------------

    def _role(self) -> Role:
        try:
            return StateStore(self.config.state_dir).read().role
        except TwinstarError as exc:
            self._error(str(exc))
            return Role.FAILED

    def _error(self, message: str) -> None:
        log.error("%s", message)
        self._info["last_error"] = {"at": self.clock(), "message": message}

    def status_line(self) -> str:
        """The STATUS= text: role and readiness, and the policy's alarm when there is one."""
        readiness = self._info["readiness"]
        summary = (readiness["summary"] if readiness is not None else "") or "readiness not evaluated"
        alarm = read_policy(self.config.state_dir).alarm
        return f"{self._role().value}; {summary}" + (f"; ALARM: {alarm}" if alarm else "")

    def snapshot(self) -> DaemonSnapshot:
        """What daemon.json holds."""
        store = StateStore(self.config.state_dir)
        try:
            node_state = store.read()
            role = node_state.role.value
            transition: Transition | Unreadable | None = node_state.last_transition
        except TwinstarError as exc:
            role, transition = "unknown", {"error": str(exc)}
        return {**self._info, "role": role, "last_transition": transition, "monitor": self.monitor is not None}

    def _save(self, *, force: bool = False) -> None:
        snap = self.snapshot()
        if not force and snap == self._written:
            return
        path = os.path.join(self.config.state_dir, settings.DAEMON_STATE_FILE)
        try:
            ensure_dir(self.config.state_dir)
            write_json(path, {**snap, "updated": self.clock()})
        except TwinstarError as exc:
            log.error("cannot write %s: %s", path, exc)
            return
        self._written = snap


def _noted(signum: int, frame: FrameType | None) -> None:
    """Signal handler: nothing to do here, the wakeup fd carries the signal number."""
