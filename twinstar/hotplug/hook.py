"""``atribank_hook``: what a udev event for an Astribank xbus decides.

The udev rule runs it for ``add``, ``online``, ``offline`` and ``remove`` of
``xbus*`` devices in the ``astribanks`` subsystem. It reads udev's
environment (``ACTION``, ``XBUS_NAME``, ``XBUS_NUM``, ``DEVPATH``), the
cached configuration (:mod:`twinstar.fastpath.hooksettings`), ``xpp_order`` and the
xbus devices in sysfs; computes readiness; decides (:mod:`twinstar.fastpath.decision`)
and hands any takeover, release or watchdog re-arm off
(:mod:`twinstar.hotplug.handoff`). It logs one line per event and returns within
milliseconds: exit 0, also for an event that is merely not actionable;
2 for a configuration error or a broken udev environment; 1 when a
hand-off failed.

:func:`evaluate` is the one entry point for the same decision everywhere:
this hook, ``twinstar hook``, the daemon, and the hand-off runner after a
transition. This module is on the hot path of every udev event: it imports
only built-in modules and the light twinstar modules; anything heavier is
imported where it is needed.
"""

from __future__ import annotations

import os
import sys

from twinstar import settings as tsettings
from twinstar.astribank import readiness as readiness_mod
from twinstar.astribank import sysfs, xpporder
from twinstar.astribank.printable import shown
from twinstar.fastpath import hooksettings, procid
from twinstar.fastpath.decision import EVENT, NOTHING, PERIODIC, Decision, decide, needs_node_state
from twinstar.fastpath.syslogsend import LOG_ERR, LOG_INFO, SyslogSender
from twinstar.hotplug import handoff

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

    from twinstar.astribank.readiness import Readiness
    from twinstar.config import Config
    from twinstar.engine.runner import Report
    from twinstar.fastpath.hooksettings import HookSettings

#: The uevent actions the hook acts on (the rule passes no others).
ACTIONS = ("add", "online", "offline", "remove")
EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


class Event:
    """One uevent of an xbus device, from udev's environment."""

    __slots__ = ("action", "xbus", "num", "devpath")

    def __init__(self, action: str, xbus: str | None = None, num: str | None = None, devpath: str | None = None) -> None:
        self.action = action
        self.xbus = xbus
        self.num = num
        self.devpath = devpath

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Event:
        return cls(environ.get("ACTION", ""), environ.get("XBUS_NAME"), environ.get("XBUS_NUM"), environ.get("DEVPATH"))

    def label(self) -> str:
        action = shown(self.action) if self.action else "(no ACTION)"
        return f"{action} {shown(self.xbus) if self.xbus else '(no XBUS_NAME)'}"


class Outcome:
    """What one evaluation saw, decided and did."""

    __slots__ = ("event", "trigger", "readiness", "decision", "handed_off", "report", "notes", "exit_status")

    def __init__(self, event: Event | None, trigger: str, readiness: Readiness, decision: Decision) -> None:
        self.event = event
        self.trigger = trigger
        self.readiness = readiness
        self.decision = decision
        self.handed_off: str | None = None
        self.report: Report | None = None
        self.notes: list[str] = []
        self.exit_status = EXIT_OK

    def line(self) -> str:
        """The one log line: ``online XBUS-03: 3/4 ready, missing usb:00000135; waiting...``."""
        head = self.event.label() if self.event is not None else self.trigger
        parts = [f"{head}: {self.readiness.summary()}", self.decision.reason]
        if self.handed_off:
            parts.append(self.handed_off)
        parts.extend(self.notes)
        return "; ".join(parts)


_syslog: SyslogSender | None = None


def log_line(line: str, *, error: bool = False) -> None:
    """One line to syslog (identifier ``twinstar``) and stderr, without the logging module."""
    global _syslog
    line = line.replace("\x00", "\\x00")
    if _syslog is None:
        _syslog = SyslogSender(tsettings.SYSLOG_IDENT)
    _syslog.send(LOG_ERR if error else LOG_INFO, line)
    try:
        sys.stderr.write(f"twinstar: {'error: ' if error else ''}{line}\n")
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):
        pass  # no stderr (closed by the caller): syslog has it


def _settings(config: Config | HookSettings) -> HookSettings:
    if isinstance(config, hooksettings.HookSettings):
        return config
    return hooksettings.HookSettings.from_config(config)


def current_readiness(settings: HookSettings) -> Readiness:
    """Read ``xpp_order`` and sysfs now and match them (raises XppOrderError, SysfsError)."""
    entries = xpporder.load(settings.xpp_order).entries
    return readiness_mod.compute(entries, sysfs.scan(settings.sysfs))


def evaluate(
    config: Config | HookSettings,
    event: Event | None = None,
    *,
    handoff_mode: str | None = None,
    trigger: str | None = None,
    environ: Mapping[str, str] | None = None,
    event_time: float | None = None,
    chain: int = 0,
) -> Outcome:
    """Look at the units and the node, decide, and hand off what the decision says.

    ``config`` is the full configuration or the hook's cached settings;
    ``event`` the uevent (None: a periodic look); ``handoff_mode`` overrides
    the configured ``handoff``. Raises a TwinstarError for a configuration
    error (exit 2) or a failed hand-off. ``event_time`` is when the event
    was seen, on the boot clock (:func:`twinstar.fastpath.procid.boottime`; default: now).
    """
    settings = _settings(config)
    trigger = trigger or (EVENT if event is not None else PERIODIC)
    if event_time is None and event is not None:
        event_time = procid.boottime()
    env = os.environ if environ is None else environ
    mode = handoff_mode or settings.handoff
    readiness = current_readiness(settings)
    maintenance = os.path.lexists(settings.maintenance_file)
    if needs_node_state(readiness):
        node = handoff.read_node(settings.state_dir)
        decision = decide(
            readiness,
            role=node.role,
            interrupted=node.interrupted,
            maintenance=maintenance,
            trigger=trigger,
            event_time=event_time,
            since=node.since_this_boot,
            last=node.last_result,
        )
    else:
        decision = decide(readiness, role=None)
    outcome = Outcome(event, trigger, readiness, decision)
    if decision.action != NOTHING:
        # Decide again under the hand-off lock, with fresh readiness and state.
        latest: list[Readiness] = []

        def fresh() -> Readiness:
            latest.append(current_readiness(settings))
            return latest[-1]

        decision, handed, report = handoff.act(
            settings, fresh, trigger=trigger, event_time=event_time, mode=mode, environ=env, chain=chain
        )
        outcome.readiness = latest[-1] if latest else readiness
        outcome.decision, outcome.handed_off, outcome.report = decision, handed, report
        if report is not None and not report.ok:
            outcome.exit_status = int(report.exit_status)
    if event is not None and event.action == "online" and settings.rearm_watchdog and not maintenance:
        _rearm(settings, outcome, event, mode, env)
    return outcome


def _rearm(settings: HookSettings, outcome: Outcome, event: Event, mode: str, env: Mapping[str, str]) -> None:
    """Hand the watchdog re-arm of the event's unit off, when that unit is listed."""
    if not event.xbus:
        return
    item = outcome.readiness.entry_for(event.xbus.lower())
    if item is None or item.unit is None or item.state == readiness_mod.CONFLICT:
        return
    unit = sysfs.find(settings.sysfs, event.xbus, transport=True)
    if unit is None or unit.busnum is None or unit.devnum is None:
        outcome.notes.append("watchdog not re-armed: the unit has no USB transport link")
        return
    try:
        outcome.notes.append(handoff.rearm(settings, unit.busnum, unit.devnum, mode=mode, environ=env))
    except Exception as exc:  # noqa: BLE001 - reported in the event's line; the decision stands
        outcome.notes.append(f"watchdog re-arm failed: {exc}")
        outcome.exit_status = outcome.exit_status or EXIT_FAILED


def _exit_status(exc: BaseException) -> int | None:
    """The exit status of a TwinstarError (imported only if one was raised), else None."""
    errors = sys.modules.get("twinstar.errors")
    if errors is not None and isinstance(exc, errors.TwinstarError):
        return int(exc.exit_status)
    return None


def main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Run for one udev event; the return value is the exit status.

    Positional arguments (the original rule passed some) are ignored: the
    event is in the environment.
    """
    started = procid.boottime()
    env = os.environ if environ is None else environ
    event = Event.from_environ(env)
    if not event.action:
        log_line(
            f"{event.label()}: ACTION is not set: atribank_hook runs from the udev rule, "
            "or as 'ACTION=online XBUS_NAME=XBUS-00 twinstar hook'",
            error=True,
        )
        return EXIT_BAD_INPUT
    if event.action not in ACTIONS:
        log_line(f"{event.label()}: not a hotplug action ({', '.join(ACTIONS)}); ignored")
        return EXIT_OK
    path = env.get(tsettings.CONFIG_ENV) or tsettings.CONFIG_PATH
    try:
        settings = hooksettings.load(path, cache=hooksettings.cache_dir(env))
        outcome = evaluate(settings, event, environ=env, event_time=started)
    except Exception as exc:  # noqa: BLE001 - one line, never a traceback, in udev context
        status = _exit_status(exc)
        if status is None:
            log_line(f"{event.label()}: internal error: {type(exc).__name__}: {exc}", error=True)
            return EXIT_FAILED
        log_line(f"{event.label()}: {exc}", error=True)
        return status
    log_line(outcome.line(), error=outcome.exit_status != EXIT_OK)
    return outcome.exit_status


if __name__ == "__main__":
    sys.exit(main())
