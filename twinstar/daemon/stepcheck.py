"""While the node is active: a step found down is logged, journaled and, when the daemon says so, applied again."""

from __future__ import annotations

import logging
from collections.abc import Callable

from twinstar.config import OnStepDown
from twinstar.daemon.status import StepCheck, StepDown
from twinstar.errors import TwinstarError
from twinstar.steps.base import Probe, Step
from twinstar.words import WAIT

TYPE_CHECKING = False
if TYPE_CHECKING:
    from twinstar.engine.records import StepDownLine

log = logging.getLogger("twinstar.daemon")

#: What ``check_one`` does with a step that is down (``when_down``'s answers): ``daemon.on_step_down``'s words, or wait.
LOG, RESTART = OnStepDown.LOG.value, OnStepDown.RESTART.value


def probe(step: Step) -> Probe:
    """The step's check; a check that fails says the step is not known up."""
    try:
        return step.check()
    except TwinstarError as exc:
        return Probe(False, f"check failed: {exc}")
    except Exception as exc:  # noqa: BLE001 - a broken check is a step that is not known up
        return Probe(False, f"check failed: unexpected {type(exc).__name__}: {exc}")


def check_one(
    step: Step,
    previous: StepCheck | None,
    *,
    at: float,
    when_down: Callable[[], str],
    journal: Callable[[StepDownLine], None],
    error: Callable[[str], None],
) -> StepCheck:
    """Check ``step`` (its ``previous`` check keeps the last time it was down).

    When it is down, ``when_down()`` says what to do: :data:`RESTART` (apply and
    verify it again), :data:`WAIT` (a restart's delay is not over) or
    :data:`LOG`; every action but a wait is journaled.
    """
    found = probe(step)
    entry: StepCheck = {
        "up": found.up, "detail": found.detail, "at": at, "action": None,
        "last_down": previous["last_down"] if previous is not None else None,
    }
    if found.up:
        return entry
    down: StepDown = {"at": at, "detail": found.detail, "action": None}
    entry["last_down"] = down
    log.warning("step %s is down while active: %s", step.name, found.detail)
    how = when_down()
    if how == WAIT:
        entry["action"] = down["action"] = "waiting"
        return entry
    if how != RESTART:
        entry["action"] = down["action"] = "logged"
        journal({"ts": at, "event": "step-down", "step": step.name, "detail": found.detail, "action": "logged"})
        error(f"step {step.name} is down: {found.detail}")
        return entry
    try:
        step.apply()
        step.verify()
    except TwinstarError as exc:
        entry["action"] = down["action"] = "restart-failed"
        entry["error"] = str(exc)
        journal(
            {"ts": at, "event": "step-down", "step": step.name, "detail": found.detail, "action": "restart-failed", "error": str(exc)}
        )
        error(f"step {step.name} is down and restarting it failed: {exc}")
        return entry
    except Exception as exc:  # noqa: BLE001 - a bug in a step must not stop the daemon
        entry["action"] = down["action"] = "restart-failed"
        entry["error"] = f"unexpected {type(exc).__name__}: {exc}"
        journal(
            {"ts": at, "event": "step-down", "step": step.name, "detail": found.detail, "action": "restart-failed", "error": entry["error"]}
        )
        error(f"step {step.name}: restart failed: {entry['error']}")
        return entry
    entry["action"] = down["action"] = "restarted"
    entry["up"] = True
    journal({"ts": at, "event": "step-down", "step": step.name, "detail": found.detail, "action": "restarted"})
    log.info("step %s restarted (apply + verify ok)", step.name)
    return entry
