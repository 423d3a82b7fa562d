"""What to do about the units present: the one pure decision of the hotplug path.

The udev hook, the daemon and the hand-off runner (after a transition) all
call :func:`decide` with what they read; it returns an action and the reason,
which is logged. Plain string constants rather than enums keep the hook's
start-up cheap.
"""

from twinstar.fastpath import procid
from twinstar.fastpath.policyfile import hold_for
from twinstar.words import (
    ACTIVE,
    AFTER_TRANSITION,
    EVENT,
    FAILED,
    NOTHING,
    PERIODIC,
    RELEASE,
    RETRY,
    STANDBY,
    TAKEOVER,
    TRANSITIONS,
    TRIGGERS,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from twinstar.astribank.readiness import Readiness
    from twinstar.fastpath.policyfile import PolicyView
    from twinstar.fastpath.statefile import NodeView

# The actions (nothing, takeover, release) and what made us look (a device
# event, the daemon's periodic re-evaluation, the end of a takeover/release)
# are the words of twinstar.words, re-exported here.
__all__ = [
    "AFTER_TRANSITION", "EVENT", "NOTHING", "PERIODIC", "RELEASE", "RETRY", "TAKEOVER", "TRIGGERS", "Decision", "decide",
    "decide_for", "going_to_take_over",
]


class Decision:
    """An action (``nothing``, ``takeover``, ``release``) and why."""

    __slots__ = ("action", "reason")

    def __init__(self, action: str, reason: str) -> None:
        self.action = action
        self.reason = reason

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Decision) and (self.action, self.reason) == (other.action, other.reason)

    def __repr__(self) -> str:
        return f"Decision({self.action!r}, {self.reason!r})"


def needs_node_state(readiness: "Readiness") -> bool:
    """Whether :func:`decide` can act at all, i.e. the node's state must be read."""
    return readiness.all_ready or readiness.none_present


def decide(
    readiness: "Readiness",
    *,
    role: str | None,
    interrupted: bool = False,
    maintenance: bool = False,
    pending: str | None = None,
    trigger: str = EVENT,
    event_time: float | None = None,
    since: float = 0.0,
    last: str | None = None,
    hold: str | None = None,
    spent: bool = False,
    retry_due: bool = True,
) -> "Decision":
    """Takeover, release or nothing.

    ``role`` is the node's role from ``state.json`` (None when not read,
    allowed only when :func:`needs_node_state` is false); ``interrupted``: that
    role is a transition whose process is gone; ``pending``: a description of
    a hand-off or transition still in progress, which blocks a new one;
    ``last``: how the last transition ended (``ok``, ``refused``, ``failed``).

    After a failed transition (role ``failed``) or a refused takeover (role
    ``standby``, rolled back) only a device event that arrived after it was
    recorded (``event_time`` > ``since``, both on the boot clock, which no
    clock step moves) tries again: never a periodic look, never the look
    after the transition, and never the other hooks of the burst of events
    that started the attempt. The pair policy (:mod:`twinstar.policy`) retries
    with the ``retry`` trigger, when its delay is over; once its tries are
    ``spent``, only that trigger tries again, and only when ``retry_due``. ``hold``: the operator's manual
    ``release`` (no takeover) or ``takeover`` (no release) holds.
    """
    retry = (trigger == RETRY and retry_due) or (trigger == EVENT and not spent and (event_time is None or event_time > since))
    if not needs_node_state(readiness):
        return Decision(NOTHING, "waiting for the listed units")
    if role is None:
        raise ValueError("decide() needs the node's role when all units are ready or none is present")
    running = role in TRANSITIONS and not interrupted
    if readiness.all_ready:
        if role == ACTIVE:
            return Decision(NOTHING, "already active")
        blocked = _blocked(
            "all ready", "takeover", role=role, maintenance=maintenance, running=running, pending=pending, retry=retry, last=last,
            held=hold == RELEASE,
        )
        if blocked is not None:
            return blocked
        if interrupted:
            return Decision(TAKEOVER, f"all ready; completing an interrupted transition ({role})")
        return Decision(TAKEOVER, "all ready")
    # No listed unit is present any more.
    if role == STANDBY:
        return Decision(NOTHING, "standby")
    blocked = _blocked(
        "no listed unit present", "release", role=role, maintenance=maintenance, running=running, pending=pending, retry=retry,
        last=last, held=hold == TAKEOVER,
    )
    if blocked is not None:
        return blocked
    return Decision(RELEASE, f"no listed unit present ({role}{', interrupted' if interrupted else ''})")


def decide_for(
    readiness: "Readiness",
    node: "NodeView",
    *,
    maintenance: bool,
    trigger: str,
    event_time: float | None,
    pending: str | None = None,
    policy: "PolicyView | None" = None,
) -> "Decision":
    """:func:`decide` with what ``node`` (the node's ``state.json``) and ``policy`` (``policy.json``) say."""
    return decide(
        readiness, role=node.role, interrupted=node.interrupted, maintenance=maintenance, pending=pending, trigger=trigger,
        event_time=event_time, since=node.since_this_boot, last=node.last_result,
        hold=hold_for(readiness, policy) if policy is not None else None, spent=policy.spent if policy is not None else False,
        retry_due=policy is None or policy.retry_at is None or policy.retry_at <= procid.boottime(),
    )


def going_to_take_over(
    readiness: "Readiness", node: "NodeView", *, maintenance: bool, policy: "PolicyView", unidentified: bool = False
) -> bool:
    """A listed unit is present, and this node would take over once all are READY.

    Standby (no transition running), no maintenance file, no operator's hold
    against a takeover, the pair policy's tries not spent. With
    ``unidentified``, a unit still in its ``add`` phase (no label yet) counts
    as present too: it may be a listed one. What may be made ready ahead of
    the takeover (the daemon's ahead probes, the hook's prepared runner) is
    started only then; the decision itself stays :func:`decide`'s.
    """
    if node.role != STANDBY or maintenance:
        return False
    if readiness.none_present and not (unidentified and readiness.unidentified):
        return False
    return not policy.spent and hold_for(readiness, policy) != RELEASE


def _blocked(
    situation: str,
    action: str,
    *,
    role: str,
    maintenance: bool,
    running: bool,
    pending: str | None,
    retry: bool,
    last: str | None,
    held: bool = False,
) -> "Decision | None":
    """What holds a takeover or release back, in the same order for both; None when nothing does."""
    if maintenance:
        return Decision(NOTHING, f"{situation}, but the maintenance file is present: no {action}")
    if held:
        return Decision(NOTHING, f"{situation}, but the operator's manual {'release' if action == TAKEOVER else 'takeover'} holds: no {action}")
    if running:
        return Decision(NOTHING, f"{situation}; a transition is in progress ({role})")
    if pending:
        return Decision(NOTHING, f"{situation}; {pending}")
    if retry or not (role == FAILED or last in ("refused", "failed")):
        return None
    how = "was refused" if role != FAILED and last == "refused" else "failed"
    return Decision(NOTHING, f"{situation}, but the last transition {how}: waiting for a new device event or an operator")
