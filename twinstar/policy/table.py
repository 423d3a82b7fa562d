"""The pair's policy as one pure decision: what a node does when a plain takeover or release is not the answer.

The Astribank is the pair's arbiter: the units are on one server's port at a
time, and each node sees whether the other port has power (the peer is up).
:func:`decide` maps what one node sees (:class:`Situation`) onto a
:class:`Verdict`, by the rows of the table below, first match wins:

=====  =====================================================  ==========================================
row    situation                                              verdict
=====  =====================================================  ==========================================
1      maintenance file present                               nothing
2      operator hold ``release``, units here                  nothing (the operator released)
3      operator hold ``takeover``, not every unit here        stay (the operator took over), alarm if some
4      no listed unit here, role standby                      nothing
5      no listed unit here, other role                        release
6      some units here, role active                           stay + alarm naming the missing units
7      some units here, not active, peer port unpowered       nothing (the units have nowhere to go)
8      some units here, not active, within the split grace    wait (the rest may still arrive)
9      some units here, not active, grace over                hand back, or stay + alarm when just
                                                              received back (no ping-pong)
10     all units here, active                                 nothing
11     all here, last takeover ok or none yet                 takeover
12     all here, failed, DRBD here not UpToDate, peer's is    hand back (the peer has the good data)
13     all here, failed or refused, tries left, due           takeover (a retry)
14     all here, failed or refused, tries left, not yet due   wait the rest of the delay
15     all here, refused by a guard that cannot clear         hand back (as row 16)
16     tries spent, peer powered, not received back           hand back
17     rows 15/16, peer unpowered or units received back      stay + alarm; a takeover when the slow
                                                              retry's delay is over
=====  =====================================================  ==========================================

Built-in modules only (the hook may import it): plain slotted classes.
"""

from __future__ import annotations

from twinstar.words import ACTIVE, HAND_BACK, NOTHING, RELEASE, STANDBY, STAY, TAKEOVER, WAIT

#: The DRBD disk state that may be promoted.
UP_TO_DATE = "UpToDate"
#: How a takeover ended, as the policy tells them apart.
FAILED, REFUSED = "failed", "refused"
#: The two operator holds: what the operator ran by hand.
HOLDS = (TAKEOVER, RELEASE)


class Situation:
    """What one node sees: its role and units, the peer's port, DRBD, its history and the operator's intent.

    ``here``/``listed``: units of ``xpp_order`` ready on this host / listed;
    ``missing``: the listed units not here (for the alarm); ``peer_powered``:
    the other port has power on every unit here (None: unknown);
    ``disk``/``peer_disk``: DRBD's disk states (None: unknown or no drbd step);
    ``last``: how the last takeover ended (``ok``, ``failed``, ``refused``,
    None); ``guard_may_clear``: a refusal's condition can change by itself
    (peer still Primary: yes; not known: yes); ``tries``: takeovers tried since
    the units came; ``retry_due``: the delay after the last try is over;
    ``received_back``: this node handed the units back within the window and
    has them again; ``split_over``: the split grace period has passed;
    ``hold``: the operator's ``takeover`` or ``release``, or None.
    """

    __slots__ = (
        "role", "here", "listed", "missing", "peer_powered", "disk", "peer_disk", "last", "guard_may_clear", "tries",
        "retries", "retry_due", "received_back", "split_over", "maintenance", "hold",
    )

    def __init__(
        self,
        *,
        role: str,
        here: int,
        listed: int,
        missing: tuple[str, ...] = (),
        peer_powered: bool | None = None,
        disk: str | None = None,
        peer_disk: str | None = None,
        last: str | None = None,
        guard_may_clear: bool = True,
        tries: int = 0,
        retries: int = 3,
        retry_due: bool = True,
        received_back: bool = False,
        split_over: bool = False,
        maintenance: bool = False,
        hold: str | None = None,
    ) -> None:
        self.role = role
        self.here = here
        self.listed = listed
        self.missing = missing
        self.peer_powered = peer_powered
        self.disk = disk
        self.peer_disk = peer_disk
        self.last = last
        self.guard_may_clear = guard_may_clear
        self.tries = tries
        self.retries = retries
        self.retry_due = retry_due
        self.received_back = received_back
        self.split_over = split_over
        self.maintenance = maintenance
        self.hold = hold


class Verdict:
    """An action of :data:`twinstar.words.POLICY_ACTIONS`, why, the table's row, and the alarm it raises (None: none)."""

    __slots__ = ("action", "reason", "row", "alarm")

    def __init__(self, action: str, reason: str, row: int, alarm: str | None = None) -> None:
        self.action = action
        self.reason = reason
        self.row = row
        self.alarm = alarm

    def __repr__(self) -> str:
        return f"Verdict({self.action!r}, {self.reason!r}, row={self.row}, alarm={self.alarm!r})"


def decide(s: Situation) -> Verdict:
    """The verdict for situation ``s``, by the module's table (first matching row)."""
    if s.maintenance:
        return Verdict(NOTHING, "the maintenance file is present", 1)
    complete = s.listed > 0 and s.here == s.listed
    if s.hold == RELEASE and s.here > 0:
        return Verdict(NOTHING, "held by the operator's release until the units leave", 2)
    if s.hold == TAKEOVER and not complete:
        alarm = _missing(s) if s.here > 0 else None
        return Verdict(STAY, "held by the operator's takeover until the units leave", 3, alarm)
    if s.here == 0:
        if s.role == STANDBY:
            return Verdict(NOTHING, "no listed unit here", 4)
        return Verdict(RELEASE, "no listed unit here", 5)
    if not complete:
        return _split(s)
    if s.role == ACTIVE:
        return Verdict(NOTHING, "active with every unit", 10)
    if s.last not in (FAILED, REFUSED):
        return Verdict(TAKEOVER, "every unit is here", 11)
    if s.last == FAILED and s.disk not in (None, UP_TO_DATE) and s.peer_disk == UP_TO_DATE:
        return _hand_back(s, f"this node's DRBD disk is {s.disk}, the peer's UpToDate", 12)
    spent = s.tries >= s.retries or (s.last == REFUSED and not s.guard_may_clear)
    if not spent:
        if s.retry_due:
            return Verdict(TAKEOVER, f"retry {s.tries + 1} of {s.retries} after a takeover that {s.last}", 13)
        return Verdict(WAIT, f"takeover {s.last}; retry {s.tries + 1} of {s.retries} when its delay is over", 14)
    if s.tries < s.retries:
        return _hand_back(s, "the refusal cannot clear by itself", 15)
    return _hand_back(s, f"{s.tries} takeover tries {s.last}", 16)


def _split(s: Situation) -> Verdict:
    if s.role == ACTIVE:
        return Verdict(STAY, f"active with {s.here} of {s.listed} units", 6, _missing(s))
    if not s.peer_powered:
        return Verdict(NOTHING, f"{s.here} of {s.listed} units here and the peer's port has no power: waiting", 7)
    if not s.split_over:
        return Verdict(WAIT, f"{s.here} of {s.listed} units here: waiting the split grace period", 8)
    return _hand_back(s, f"only {s.here} of {s.listed} units arrived", 9)


def _hand_back(s: Situation, why: str, row: int) -> Verdict:
    """Hand the units back when the peer can take them and they were not just handed back here; else stay and alarm."""
    if s.peer_powered and not s.received_back:
        return Verdict(HAND_BACK, f"{why}: handing the units to the peer", row)
    if s.received_back:
        blocked = "the units came back within the hand-back window (no ping-pong)"
    elif s.peer_powered is None:
        blocked = "the peer's port power is unknown"
    else:
        blocked = "the peer's port has no power"
    # A stay after a split still misses units; after failed tries this node cannot serve.
    alarm = _missing(s) if s.here < s.listed else f"cannot serve: {why}; {blocked}"
    if row in (15, 16):
        if s.retry_due:
            return Verdict(TAKEOVER, f"{why}; {blocked}: a slow retry", 17, alarm)
        return Verdict(STAY, f"{why}; {blocked}: staying, retrying slowly", 17, alarm)
    return Verdict(STAY, f"{why}; {blocked}: staying", row, alarm)


def _missing(s: Situation) -> str:
    names = ", ".join(s.missing) if s.missing else f"{s.listed - s.here} unit(s)"
    return f"units missing: {names} ({s.here} of {s.listed} here)"


def retry_delay(tries: int, first: float, limit: float) -> float:
    """The delay before the next try after ``tries`` failed ones: ``first``, doubled each time, at most ``limit``."""
    return float(min(first * 2.0 ** max(0, tries - 1), limit))
