"""The daemon's decision: the hook's own code (:func:`twinstar.hotplug.hook.evaluate`), run inline, and what the daemon keeps of it."""

from __future__ import annotations

import os
from dataclasses import KW_ONLY, dataclass
from typing import Protocol

from twinstar import words
from twinstar.astribank.readiness import Readiness
from twinstar.config import Config
from twinstar.daemon.monitor import Uevent
from twinstar.daemon.status import ReadinessJson, UnitJson


@dataclass(frozen=True)
class EvaluationRecord:
    """What one evaluation found and did, as the daemon records it."""

    decision: str  # "takeover", "release", "nothing" or "ignored"
    line: str  # the line the hook logs for the same event
    summary: str  # readiness alone
    _: KW_ONLY
    acted: bool = False  # a transition ran (or was handed off)
    ok: bool = True
    readiness: ReadinessJson | None = None


class Decide(Protocol):
    def __call__(self, config: Config, event: Uevent | None) -> EvaluationRecord: ...


def shared_decide(config: Config, event: Uevent | None) -> EvaluationRecord:
    """Decide and hand off through the hook's code (:func:`twinstar.hotplug.hook.evaluate`), inline.

    The same event filter as the hook's ``main``: actions other than add,
    online, offline and remove are ignored.
    """
    from twinstar.hotplug import handoff, hook  # one copy of readiness, decision and hand-off

    hook_event = hook.Event.from_environ(event.environ) if event is not None else None
    if hook_event is not None and hook_event.action not in hook.ACTIONS:
        line = f"{hook_event.label()}: not a hotplug action ({', '.join(hook.ACTIONS)}); ignored"
        return EvaluationRecord(decision="ignored", line=line, summary="")
    arrived = event.arrived if event is not None else None
    evaluation = hook.evaluate(config, hook_event, handoff_mode=handoff.INLINE, event_time=arrived)
    return EvaluationRecord(
        decision=evaluation.decision.action,
        line=evaluation.line(),
        summary=evaluation.readiness.summary(),
        acted=evaluation.handed_off is not None,
        ok=evaluation.exit_status == 0,
        readiness=readiness_json(evaluation.readiness),
    )


def going_to_take_over(config: Config, event: Uevent) -> bool:
    """On a unit's hotplug event: a listed unit is present, and this node would take over once all are READY.

    Standby (no transition running), no maintenance file, no operator's hold
    against a takeover, the pair policy's tries not spent. Then the steps'
    slow safety probes may start (:meth:`twinstar.steps.base.Step.start_ahead`):
    from the first listed unit's arrival on, and anew with a later event once
    the last one has ended, so that the takeover finds a recent one. The
    decision itself stays :func:`shared_decide`'s.
    """
    from twinstar.fastpath import decision, policyfile, statefile
    from twinstar.fastpath.hooksettings import HookSettings
    from twinstar.hotplug import hook

    if event.action not in hook.ACTIONS:
        return False
    node = statefile.read_node(config.state_dir)
    if node.role != words.STANDBY:
        return False  # nothing of the units read
    readiness = hook.current_readiness(HookSettings.from_config(config))
    return decision.going_to_take_over(
        readiness, node, maintenance=os.path.lexists(config.maintenance_file), policy=policyfile.read_policy(config.state_dir)
    )


def readiness_json(readiness: Readiness) -> ReadinessJson:
    units: list[UnitJson] = []
    for item in readiness.listed:
        unit = item.unit
        units.append(
            {
                "entry": item.entry.text,
                "state": item.state,
                "detail": item.detail,
                "xbus": unit.xbus if unit is not None else None,
            }
        )
    return {
        "ready": readiness.ready_count,
        "listed": len(readiness.listed),
        "all_ready": readiness.all_ready,
        "summary": readiness.summary(),
        "units": units,
    }
