"""A step found down on the active node (``daemon.on_step_down: restart``): restart it, bounded, then hand the units back.

The same bound as a failed takeover (``policy.retries`` tries after the first,
``policy.retry_delay`` s before the first retry, doubled), and the same
hand-back: only to a powered peer, never in maintenance or against the
operator's ``takeover`` hold; otherwise the node stays, raises the alarm and
restarts the step every ``policy.slow_retry`` s. :func:`decide` is pure.

======  =========================================================  ====================================
row     situation                                                  verdict
======  =========================================================  ====================================
1       maintenance file present                                   left down (logged only)
2       restarts failed <= ``retries``, the next try due           restart
3       restarts failed <= ``retries``, not yet due                wait
4       spent, no ``takeover`` hold, peer's port powered           hand back
5       spent, otherwise                                           stay + alarm; restart when due (slow)
======  =========================================================  ====================================
"""

from __future__ import annotations

from dataclasses import dataclass

from twinstar.policy.table import retry_delay
from twinstar.words import TAKEOVER

#: How an alarm begins when this node cannot serve; its step-down alarms continue with "step ".
CANNOT_SERVE = "cannot serve: "


@dataclass(frozen=True)
class StepVerdict:
    """``restart``: apply and verify the step now; ``hand_back``: release and jump the units to the peer; ``alarm``: raise it."""

    row: int
    reason: str
    restart: bool = False
    hand_back: bool = False
    alarm: str | None = None


def decide(
    step: str, failures: int, retries: int, *, due: bool, maintenance: bool, hold: str | None, peer_powered: bool | None
) -> StepVerdict:
    """What to do with ``step``, down, after ``failures`` restarts failed in a row (the module's table)."""
    if maintenance:
        return StepVerdict(1, f"step {step} is down; the maintenance file is present: left down")
    if not spent(failures, retries):
        if due:
            what = "restart" if failures == 0 else f"restart retry {failures} of {retries}"
            return StepVerdict(2, f"step {step} is down: {what}", restart=True)
        return StepVerdict(3, f"step {step} is down: restart retry {failures} of {retries} when its delay is over")
    why = spent_reason(step, failures)
    if hold != TAKEOVER and peer_powered:
        return StepVerdict(4, f"{why}: handing the units to the peer", hand_back=True)
    if hold == TAKEOVER:
        blocked = "held by the operator's takeover"
    elif peer_powered is None:
        blocked = "the peer's port power is unknown"
    else:
        blocked = "the peer's port has no power"
    return StepVerdict(5, f"{why}; {blocked}: staying, restarting slowly", restart=due, alarm=f"{CANNOT_SERVE}{why}; {blocked}")


def spent(failures: int, retries: int) -> bool:
    """The restarts are spent: the first one and ``retries`` more failed."""
    return failures > retries


def spent_reason(step: str, failures: int) -> str:
    """Why the units are handed back (or the alarm raised) when the restarts of ``step`` are spent."""
    return f"step {step} is down and {failures} restarts failed"


def owns(alarm: str | None) -> bool:
    """Whether ``alarm`` was raised for a step that could not be restarted (it ends when the step is up, not before)."""
    return alarm is not None and alarm.startswith(f"{CANNOT_SERVE}step ")


def next_delay(failures: int, first: float, slow: float, retries: int) -> float:
    """Seconds before the next restart after ``failures`` failed ones: the takeover's backoff, then the slow retry."""
    return slow if spent(failures, retries) else retry_delay(failures, first, slow)
