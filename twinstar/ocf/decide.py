"""The agent's decisions, pure: from what was read on this host to an OCF verdict or a plan.

What is read (by :mod:`twinstar.ocf.agent`): the resource's ``xpp_order``
entries and their readiness (the xpp driver's view: here, READY), the same
units over USB on this host's port (watchdog, power of the peer's port), the
node's role in ``state.json`` and each takeover step's probe (the ``dahdi``
step's: registered with DAHDI).

* started means the role is ``active``: the agent's start ran the takeover;
* running (``monitor`` 0): started, every listed unit here and READY, seen over
  USB with its watchdog armed, every step up;
* stopped (``monitor`` 7): not started and no step up (units may be anywhere);
* anything between is a failure (``monitor`` 1), for Pacemaker to recover.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from twinstar import words
from twinstar.astribank import readiness
from twinstar.astribank.printable import shown
from twinstar.ocf.codes import OcfStatus, Verdict

TYPE_CHECKING = False
if TYPE_CHECKING:
    from twinstar.astribank.xpporder import Entry
    from twinstar.steps.base import Probe
    from twinstar.usb.units import UnitStatusRow

#: The start timeout when Pacemaker gives none (ocf-tester, a manual run), seconds.
DEFAULT_START_TIMEOUT = 60.0
#: What start keeps of its timeout for arming the watchdog and the takeover: a quarter, at most this.
START_RESERVE = 15.0


@dataclass(frozen=True)
class Seen:
    """One look at this host: the listed units (xpp driver) and the same units over USB."""

    listed: tuple[readiness.Listed, ...]
    rows: tuple[UnitStatusRow, ...]


@dataclass(frozen=True)
class StepProbe:
    """A takeover step's name and its probe."""

    name: str
    probe: Probe


@dataclass(frozen=True)
class StopPlan:
    """Whether stop jumps the units to the peer, and why (not)."""

    jump: bool
    reason: str


def parse_units(text: str) -> tuple[str, ...]:
    """The ``units`` parameter: labels separated by blanks (empty: every unit)."""
    return tuple(text.split())


def unknown_units(entries: Sequence[Entry], names: Sequence[str]) -> list[str]:
    """The ``units`` names that no ``xpp_order`` entry lists (DAHDI registers only listed units)."""
    listed = {e.text for e in entries}
    return [n for n in names if n not in listed]


def select_entries(entries: Sequence[Entry], names: Sequence[str]) -> tuple[Entry, ...]:
    """The entries this resource owns: those named, or all when none is."""
    return tuple(e for e in entries if not names or e.text in names)


def select_rows(rows: Sequence[UnitStatusRow], names: Sequence[str]) -> tuple[UnitStatusRow, ...]:
    """The USB units this resource owns: those whose label is named, or all when none is."""
    return tuple(r for r in rows if not names or r.label in names)


def _unit_problems(seen: Seen) -> list[str]:
    """Why the listed units are not all here, READY and seen over USB on this port."""
    problems = []
    for item in seen.listed:
        if item.state != readiness.READY:
            detail = f" ({item.detail})" if item.detail else ""
            problems.append(f"{shown(item.entry.text)} {item.state}{detail}")
    if not seen.listed:
        problems.append("no unit is listed")
    usable = [r for r in seen.rows if r.capable and not r.error]
    for row in seen.rows:
        if row.error:
            problems.append(f"{row.title}: {row.error}")
    labels = {r.label for r in usable}
    for item in seen.listed:
        if item.entry.kind == "label" and item.state == readiness.READY and item.entry.value not in labels:
            problems.append(f"{shown(item.entry.text)} not seen over USB yet")
    if not usable:
        problems.append("no TwinStar-capable unit seen over USB")
    return problems


def waiting_for(seen: Seen) -> str | None:
    """None when start may go on (every unit here and READY); else what it still waits for."""
    problems = _unit_problems(seen)
    return "; ".join(problems) if problems else None


def monitor(role: str, seen: Seen, steps: Sequence[StepProbe]) -> Verdict:
    """The ``monitor`` verdict.

    ``steps`` holds each step's ``check()`` when the role is active, else its
    ``release_probe()`` (is any part of it up?).
    """
    up = [s for s in steps if s.probe.up]
    if role != words.ACTIVE:
        if up:
            parts = "; ".join(f"{s.name}: {s.probe.detail}" for s in up)
            return Verdict(OcfStatus.ERR_GENERIC, f"not started ({role}) yet partly up: {parts}")
        return Verdict(OcfStatus.NOT_RUNNING, f"stopped ({role})")
    problems = _unit_problems(seen)
    problems += [f"{r.title}: watchdog off" for r in seen.rows if r.capable and not r.error and r.watchdog is False]
    problems += [f"step {s.name} down: {s.probe.detail}" for s in steps if not s.probe.up]
    if problems:
        return Verdict(OcfStatus.ERR_GENERIC, "started but " + "; ".join(problems))
    return Verdict(OcfStatus.SUCCESS, f"running: {len(seen.listed)} unit(s) here, READY, watchdog on, {len(steps)} step(s) up")


def stop_plan(rows: Sequence[UnitStatusRow]) -> StopPlan:
    """Jump when units are here and every one's peer port has power; else stay stopped with them."""
    from twinstar.ops.switchover import check_power

    checks = check_power(rows)
    if not checks:
        return StopPlan(False, "no TwinStar-capable unit on this host: nothing to hand over")
    broken = [c.text for c in checks if c.error]
    if broken:
        return StopPlan(False, "cannot read " + "; ".join(broken) + ": the units stay here")
    dark = [c.unit for c in checks if not c.peer_powered]
    if dark:
        return StopPlan(False, f"the peer's port has no power on {', '.join(dark)}: the units stay here")
    return StopPlan(True, f"{len(checks)} unit(s) here, the peer's port powered")


def start_wait(timeout_ms: str | None) -> float:
    """How long start waits for the units: its timeout (Pacemaker's, in ms) less what arming and the takeover need."""
    try:
        timeout = float(timeout_ms) / 1000 if timeout_ms else DEFAULT_START_TIMEOUT
    except ValueError:
        timeout = DEFAULT_START_TIMEOUT
    if not (math.isfinite(timeout) and timeout > 0):
        timeout = DEFAULT_START_TIMEOUT
    return max(0.0, timeout - min(timeout / 4, START_RESERVE))
