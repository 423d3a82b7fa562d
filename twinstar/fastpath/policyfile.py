"""Reading ``state_dir/policy.json``, the pair policy's memory, on the hook's fast path.

What the hook's decision needs of it: the operator's hold (``takeover`` or
``release``, from a manual command) and whether the takeover tries are
spent (then only the policy's own retry tries again, never an event). The
rest (tries, when the next retry is due, hand-backs, the split's start, the
alarm) is read by :mod:`twinstar.policy`. Times for decisions are on the
boot clock with the boot's id (:func:`twinstar.fastpath.procid.this_boot`);
a hand-back's time is on the wall clock, for people and for the window,
which a reboot must not reset. A file that cannot be used reads as empty:
the policy then starts afresh, which is always safe (the engine still
decides under its lock). Built-in modules only.
"""

from twinstar import settings, words
from twinstar.fastpath import procid, statefile

TYPE_CHECKING = False
if TYPE_CHECKING:
    from twinstar.astribank.readiness import Readiness
    from twinstar.fastpath.statefile import NodeView


def policy_path(state_dir: str) -> str:
    return f"{state_dir}/{settings.POLICY_FILE}"


class PolicyView:
    """What ``policy.json`` says, each field checked; missing or malformed fields read as their defaults."""

    __slots__ = ("hold", "hold_since", "hold_left", "tries", "retry_at", "spent", "split_since", "handed_back_at", "hand_backs",
                 "last_hand_back", "alarm", "alarm_since")

    def __init__(self, raw: dict[str, object] | None = None) -> None:
        raw = raw or {}
        boot = raw.get("boot_id")
        hold = raw.get("hold")
        self.hold: str | None = hold if hold in (words.TAKEOVER, words.RELEASE) else None
        self.hold_since = _number(raw.get("hold_since"))
        #: The units left since the hold began: it ends when they come back.
        self.hold_left = raw.get("hold_left") is True
        tries = raw.get("tries")
        self.tries = tries if type(tries) is int and tries >= 0 else 0
        #: When the next retry is due, on this boot's clock (None: no retry planned).
        self.retry_at = procid.this_boot(raw["retry_at"], boot) if _is_number(raw.get("retry_at")) else None
        self.spent = raw.get("spent") is True
        self.split_since = procid.this_boot(raw["split_since"], boot) if _is_number(raw.get("split_since")) else None
        self.handed_back_at = _number(raw.get("handed_back_at"))
        count = raw.get("hand_backs")
        self.hand_backs = count if type(count) is int and count >= 0 else 0
        last = raw.get("last_hand_back")
        self.last_hand_back: dict[str, object] | None = last if type(last) is dict else None
        alarm = raw.get("alarm")
        self.alarm: str | None = alarm if type(alarm) is str and alarm else None
        self.alarm_since = _number(raw.get("alarm_since"))


def _is_number(value: object) -> bool:
    return type(value) in (int, float) and 0.0 <= value < float("inf")  # type: ignore[operator]


def _number(value: object) -> float | None:
    return float(value) if _is_number(value) else None  # type: ignore[arg-type]


def read_policy(state_dir: str) -> PolicyView:
    """The policy's memory of this node (empty when there is none or it cannot be used)."""
    try:
        return PolicyView(statefile.read_object(policy_path(state_dir)))
    except Exception:  # noqa: BLE001 - a torn or foreign file: start afresh (see the module's docstring)
        return PolicyView()


def concerns(readiness: "Readiness", node: "NodeView", view: PolicyView) -> bool:
    """Whether the pair policy has something to say that the hook's plain decision does not (files only, cheap).

    Some but not all units here; every unit here on a node whose takeover
    failed or was refused, or on an active node with an alarm to clear; no
    unit here while the policy still remembers a hold, tries, a split or an alarm.
    """
    if readiness.none_present:
        held = view.hold is not None and not view.hold_left
        return held or view.tries > 0 or view.split_since is not None or view.alarm is not None
    if view.hold is not None and view.hold_left:
        return True  # the units came back: the hold ends
    if not readiness.all_ready:
        return True
    if node.role == words.ACTIVE:
        return view.alarm is not None
    return node.role == words.FAILED or node.last_result in ("failed", "refused")


def hold_for(readiness: "Readiness", view: PolicyView) -> str | None:
    """The operator's hold that still holds: it ends when the units, gone since it began, are back."""
    if view.hold is not None and view.hold_left and not readiness.none_present:
        return None
    return view.hold
