"""What a uevent of an Astribank xbus decides: :func:`evaluate`, and the transition cycle.

:func:`evaluate` is the one path to the decision everywhere: ``atribank_hook``
(:mod:`twinstar.cli.atribank_hook`), ``twinstar hook``, the daemon, and the
hand-off runner after a transition. It reads ``xpp_order`` and the xbus
devices in sysfs, computes readiness, decides (:mod:`twinstar.fastpath.decision`)
and hands a takeover, release or watchdog re-arm off (:mod:`twinstar.hotplug.handoff`);
an ``inline`` hand-off runs here (:func:`run_transition`), which looks again
afterwards. On the hot path of every udev event: anything heavier than the
fast path is imported where it is needed (docs/architecture.md); so are
the node's state (only when readiness asks for it) and the hand-off (only
when the decision acts or a watchdog is re-armed), which most events never use.
"""

from twinstar import settings as tsettings
from twinstar.astribank import readiness as readiness_mod
from twinstar.astribank import sysfs, xpporder
from twinstar.astribank.printable import shown
from twinstar.fastpath import hooksettings, policyfile, procid, safefile, statefile
from twinstar.fastpath.decision import (
    AFTER_TRANSITION,
    EVENT,
    NOTHING,
    PERIODIC,
    RETRY,
    Decision,
    decide,
    decide_for,
    going_to_take_over,
    needs_node_state,
)
from twinstar.fastpath.syslogsend import log_line
from twinstar.words import INLINE, SPAWN, SYSTEMD

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from twinstar.astribank.readiness import Readiness
    from twinstar.config import Config
    from twinstar.engine.report import Report
    from twinstar.engine.runner import Engine
    from twinstar.fastpath.hooksettings import HookSettings
    from twinstar.fastpath.policyfile import PolicyView
    from twinstar.fastpath.statefile import NodeView
    from twinstar.policy.consult import Outcome

#: The uevent actions the hook acts on (the rule passes no others).
ACTIONS = ("add", "online", "offline", "remove")
#: The actions of a unit arriving: the ones that get a takeover runner ready (:func:`_prepare`).
ARRIVING = ("add", "online")
EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2

#: The variables of udev's event environment the hook reads (ACTION, the xbus, the device path).
EVENT_VARIABLES = ("ACTION", "XBUS_NAME", "XBUS_NUM", "DEVPATH")


class Event:
    """One uevent of an xbus device, from udev's environment."""

    __slots__ = ("action", "xbus", "num", "devpath")

    def __init__(self, action: str, xbus: str | None = None, num: str | None = None, devpath: str | None = None) -> None:
        self.action = action
        self.xbus = xbus
        self.num = num
        self.devpath = devpath

    @classmethod
    def from_environ(cls, environ: "Mapping[str, str]") -> "Event":
        action, xbus, num, devpath = (environ.get(name) for name in EVENT_VARIABLES)
        return cls(action or "", xbus, num, devpath)

    def label(self) -> str:
        action = shown(self.action) if self.action else "(no ACTION)"
        return f"{action} {shown(self.xbus) if self.xbus else '(no XBUS_NAME)'}"


class Evaluation:
    """What one evaluation saw, decided and did."""

    __slots__ = ("event", "trigger", "readiness", "decision", "handed_off", "report", "notes", "exit_status", "policy")

    def __init__(self, event: "Event | None", trigger: str, readiness: "Readiness", decision: Decision) -> None:
        self.event = event
        self.trigger = trigger
        self.readiness = readiness
        self.decision = decision
        self.handed_off: str | None = None
        self.report: Report | None = None
        self.notes: list[str] = []
        self.exit_status = EXIT_OK
        #: What the pair policy decided and did (None: it had nothing to say or ran elsewhere).
        self.policy: Outcome | None = None

    def line(self) -> str:
        """The one log line: ``online XBUS-03: 3/4 ready, missing usb:00000135; waiting...``."""
        head = self.event.label() if self.event is not None else self.trigger
        parts = [f"{head}: {self.readiness.summary()}", self.decision.reason]
        if self.handed_off:
            parts.append(self.handed_off)
        if self.policy is not None:
            parts.append(f"policy: {self.policy.verdict.reason} ({self.policy.did})")
        parts.extend(self.notes)
        return "; ".join(parts)


def _settings(config: "Config | HookSettings") -> "HookSettings":
    if isinstance(config, hooksettings.HookSettings):
        return config
    return hooksettings.HookSettings.from_config(config)


def current_readiness(settings: "HookSettings") -> "Readiness":
    """Read ``xpp_order`` and sysfs now and match them (raises XppOrderError, SysfsError).

    Of the units ``xpp_order`` does not list, only their identity is read.
    """
    entries = xpporder.load(settings.xpp_order).entries
    return readiness_mod.compute(entries, sysfs.scan(settings.sysfs, listed=sysfs.listed_in(entries)))


def evaluate(
    config: "Config | HookSettings",
    event: "Event | None" = None,
    *,
    handoff_mode: str | None = None,
    trigger: str | None = None,
    environ: "Mapping[str, str] | None" = None,
    event_time: float | None = None,
    chain: int = 0,
) -> "Evaluation":
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
    env = tsettings.process_environ() if environ is None else environ
    mode = handoff_mode or settings.handoff
    readiness = current_readiness(settings)
    maintenance = safefile.exists(settings.maintenance_file)
    node = statefile.read_node(settings.state_dir)
    policy = policyfile.read_policy(settings.state_dir)
    if needs_node_state(readiness):
        decision = decide_for(readiness, node, maintenance=maintenance, trigger=trigger, event_time=event_time, policy=policy)
    else:
        decision = decide(readiness, role=None)
    evaluation = Evaluation(event, trigger, readiness, decision)
    if readiness.all_ready:
        _end_boot_wait(evaluation)
    if decision.action != NOTHING:
        from twinstar.hotplug import handoff

        # Decide again under the hand-off lock, with fresh readiness and state.
        latest: list[Readiness] = []

        def fresh() -> "Readiness":
            latest.append(current_readiness(settings))
            return latest[-1]

        decision, handed, how = handoff.act(settings, fresh, trigger=trigger, event_time=event_time, mode=mode, environ=env)
        evaluation.readiness = latest[-1] if latest else readiness
        evaluation.decision, evaluation.handed_off = decision, handed
        if how == INLINE:
            evaluation.report = run_transition(settings, decision.action, mode=mode, environ=env, chain=chain)
            if not evaluation.report.ok:
                evaluation.exit_status = int(evaluation.report.exit_status)
    elif trigger != AFTER_TRANSITION and policyfile.concerns(readiness, node, policy):
        _policy(settings, evaluation, mode, env, chain)
    if event is not None and event.action in ARRIVING and decision.action == NOTHING and not readiness.all_ready and mode != INLINE:
        _prepare(settings, evaluation, readiness, node, maintenance, policy, mode, env)
    if event is not None and event.action == "online" and settings.rearm_watchdog and not maintenance:
        if statefile.read_node(settings.state_dir).role == "active":  # armed only while this node serves
            _rearm(settings, evaluation, event, mode, env)
    return evaluation


def _end_boot_wait(evaluation: "Evaluation") -> None:
    """Every listed unit is READY: remove dahdi-tools' astribank_is_starting semaphore (:mod:`~twinstar.astribank.startsem`)."""
    from twinstar.astribank import startsem

    try:
        if startsem.remove():
            evaluation.notes.append("removed the astribank_is_starting semaphore: the boot need not wait for it")
    except OSError as exc:
        evaluation.notes.append(f"cannot remove the astribank_is_starting semaphore: {exc}")


def _policy(settings: "HookSettings", evaluation: "Evaluation", mode: str, env: "Mapping[str, str]", chain: int) -> None:
    """Let the pair policy look: here when transitions run in this process, else in a detached runner
    (``spawn``) or ``twinstar-policy.service`` (``systemd``: udev kills what its hook leaves running)."""
    from twinstar.fastpath import detach

    how = detach.resolve_mode(mode)
    if how == INLINE:
        evaluation.policy = consult_here(settings, mode=mode, environ=env, chain=chain)
        return
    if how != SYSTEMD:
        evaluation.notes.append(detach.policy_runner(settings, env))
        return
    from twinstar.hotplug import handoff

    try:
        evaluation.notes.append(handoff.policy_unit(settings))
    except Exception as exc:  # noqa: BLE001 - reported in the event's line; the decision stands
        evaluation.notes.append(f"policy not handed off: {exc}")
        evaluation.exit_status = evaluation.exit_status or EXIT_FAILED


def _prepare(
    settings: "HookSettings",
    evaluation: "Evaluation",
    readiness: "Readiness",
    node: "NodeView",
    maintenance: bool,
    policy: "PolicyView",
    mode: str,
    env: "Mapping[str, str]",
) -> None:
    """Units present (an unidentified one may be listed), not all READY, this node going to take over:
    a takeover runner gets ready (:mod:`twinstar.hotplug.prepared`), detached (``spawn``) or as
    ``twinstar-prepared.service`` (``systemd``)."""
    if not going_to_take_over(readiness, node, maintenance=maintenance, policy=policy, unidentified=True):
        return
    from twinstar.fastpath import detach

    try:
        how = detach.resolve_mode(mode)
        if how == SPAWN:
            evaluation.notes.append(detach.prepared_runner(settings, env))
        elif how == SYSTEMD:
            from twinstar.hotplug import handoff

            evaluation.notes.append(handoff.prepared_unit(settings))
    except Exception as exc:  # noqa: BLE001 - the decisive event forks the takeover as before
        evaluation.notes.append(f"no takeover runner prepared: {exc}")


def consult_here(
    settings: "HookSettings", *, mode: str | None = None, environ: "Mapping[str, str] | None" = None, chain: int = 0
) -> "Outcome":
    """The pair policy, once, in this process; a retry goes through the exactly-once hand-off and runs here."""
    from twinstar.hotplug import handoff
    from twinstar.hotplug.configuration import full_config
    from twinstar.policy.consult import consult

    env = tsettings.process_environ() if environ is None else environ

    def transition(action: str) -> "Report | None":
        trigger = RETRY if action == "takeover" else EVENT  # a release needs no retry's permission
        decision, handed, _ = handoff.act(
            settings, lambda: current_readiness(settings), trigger=trigger, event_time=None, mode=handoff.INLINE, environ=env
        )
        if handed is None:
            return None
        return run_transition(settings, decision.action, mode=mode, environ=env, chain=chain)

    return consult(full_config(settings), lambda: current_readiness(settings), transition=transition)


def _rearm(settings: "HookSettings", evaluation: "Evaluation", event: "Event", mode: str, env: "Mapping[str, str]") -> None:
    """Hand the watchdog re-arm of the event's unit off, when that unit is listed."""
    if not event.xbus:
        return
    item = evaluation.readiness.entry_for(event.xbus.lower())
    if item is None or item.unit is None or item.state == readiness_mod.CONFLICT:
        return
    unit = sysfs.find(settings.sysfs, event.xbus, transport=True)
    if unit is None or unit.busnum is None or unit.devnum is None:
        evaluation.notes.append("watchdog not re-armed: the unit has no USB transport link")
        return
    from twinstar.hotplug import handoff

    try:
        evaluation.notes.append(handoff.rearm(settings, unit.busnum, unit.devnum, mode=mode, environ=env))
    except Exception as exc:  # noqa: BLE001 - reported in the event's line; the decision stands
        evaluation.notes.append(f"watchdog re-arm failed: {exc}")
        evaluation.exit_status = evaluation.exit_status or EXIT_FAILED


def policy_loop(
    settings: "HookSettings", *, environ: "Mapping[str, str] | None" = None, sleep: "Callable[[float], None] | None" = None
) -> "list[Outcome]":
    """Consult the policy until it has nothing to wait for (a retry's delay, a split's grace); bounded.

    Where no daemon looks again (a hand-off runner), this process waits. One
    runner at a time (``policy-run.lock``); a second returns at once. A node
    that stays without serving is retried slowly by the daemon or the next
    event, not by a process that sleeps for minutes.
    """
    import time

    from twinstar.engine.lock import FileLock
    from twinstar.errors import LockBusyError
    from twinstar.fastpath import detach
    from twinstar.hotplug.configuration import full_config

    config = full_config(settings)
    outcomes: list[Outcome] = []
    try:
        lock = FileLock(f"{settings.state_dir}/{detach.POLICY_RUN_LOCK}")
        lock.acquire(timeout=0)
    except LockBusyError:
        return outcomes
    try:
        for _ in range(config.policy.retries + 4):
            seen = current_readiness(settings).summary()
            outcome = consult_here(settings, mode=INLINE, environ=environ)
            outcomes.append(outcome)
            log_line(f"policy: {outcome.verdict.reason} ({outcome.did})")
            if outcome.due is None:
                if current_readiness(settings).summary() != seen:
                    continue  # the units changed meanwhile; their hooks found this runner busy: look again
                break  # nothing to wait for here: done, handed back, staying, or left to the hook
            (sleep or time.sleep)(max(0.0, outcome.due - procid.boottime()))
    finally:
        lock.release()
    return outcomes


def run_transition(
    settings: "HookSettings",
    action: str,
    *,
    mode: str | None = None,
    environ: "Mapping[str, str] | None" = None,
    chain: int = 0,
    engine: "Engine | None" = None,
) -> "Report":
    """Run the takeover or release here (on ``engine``, when built already), log one line, then look again.

    Units may have come or gone while the transition ran and their events
    found it pending; so the decision is taken once more afterwards (at most
    :data:`~twinstar.hotplug.handoff.MAX_CHAIN` transitions in a row).
    """
    from twinstar.engine.runner import engine_for
    from twinstar.errors import TwinstarError
    from twinstar.hotplug import handoff
    from twinstar.hotplug.configuration import full_config

    config = full_config(settings)
    engine = engine or engine_for(config)
    report = engine.takeover() if action == "takeover" else engine.release()
    from twinstar.policy.consult import after_transition  # after the transition: not on its path
    verdict = "ok" if report.ok else f"FAILED: {report.error}"
    log_line(f"{action} {verdict} (role {report.role.value}, {report.duration * 1000:.0f} ms)", error=not report.ok)
    try:
        log_line(f"policy: {after_transition(config, action, report)}")
    except TwinstarError as exc:  # the transition's outcome stands; the policy's memory could not be written
        log_line(f"policy: {exc}", error=True)
    if chain + 1 < handoff.MAX_CHAIN:
        try:
            evaluation = evaluate(settings, None, handoff_mode=mode, trigger=AFTER_TRANSITION, environ=environ, chain=chain + 1)
        except Exception as exc:  # noqa: BLE001 - the transition itself is done; report and go on
            log_line(f"after {action}: {exc}", error=True)
        else:
            if evaluation.handed_off:
                log_line(f"after {action}: {evaluation.line()}")
    return report
