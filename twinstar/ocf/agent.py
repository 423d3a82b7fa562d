"""The actions of ``ocf:twinstar:astribank``: read, decide (:mod:`twinstar.ocf.decide`), act.

The edges (USB units, the engine, the clock) are injected; :func:`agent_for`
builds the real ones. Each action returns a :class:`~twinstar.ocf.codes.Verdict`;
errors that name bad input (configuration, ``xpp_order``, ``units``) are
``OCF_ERR_CONFIGURED``, other twinstar errors ``OCF_ERR_GENERIC``.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import KW_ONLY, dataclass

from twinstar import words
from twinstar.astribank import readiness, sysfs, xpporder
from twinstar.config import Config
from twinstar.engine.runner import Engine, engine_for
from twinstar.errors import BadInputError, ExitStatus, TwinstarError
from twinstar.ocf import decide
from twinstar.ocf.codes import OcfStatus, Verdict
from twinstar.steps.base import Probe, Step
from twinstar.usb.errors import NoUnitError
from twinstar.usb.transport import UsbUnit
from twinstar.usb.units import (
    Astribanks,
    UnitOutcome,
    UnitResult,
    jump,
    overall_status,
    run_each,
    set_watchdog,
    status_rows,
)

log = logging.getLogger("twinstar.ocf")

#: Seconds between two looks while start waits for the units.
POLL = 0.1


def _probe(step: Step, read: Callable[[], Probe], *, broken_up: bool) -> decide.StepProbe:
    """A step's probe; one that fails counts as up (``broken_up``) or down, with the error as its detail."""
    try:
        return decide.StepProbe(step.name, read())
    except TwinstarError as exc:
        return decide.StepProbe(step.name, Probe(broken_up, f"check failed: {exc}"))


def _failures(outcomes: Sequence[UnitOutcome]) -> str:
    return "; ".join(o.message for o in outcomes if o.result in (UnitResult.FAILED, UnitResult.REFUSED))


@dataclass
class Agent:
    """One resource: its configuration, the units it owns (``names``, empty: all), the edges."""

    config: Config
    names: tuple[str, ...]
    hw: Astribanks
    engine: Engine
    _: KW_ONLY
    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic
    poll: float = POLL

    @property
    def steps(self) -> Sequence[Step]:
        return self.engine.steps

    # -- reading ---------------------------------------------------------------------------

    def entries(self) -> tuple[xpporder.Entry, ...]:
        """The ``xpp_order`` entries this resource owns; a name not listed there is bad input."""
        order = xpporder.load(self.config.astribanks.xpp_order)
        unknown = decide.unknown_units(order.entries, self.names)
        if unknown:
            raise BadInputError(
                f"units: {' '.join(unknown)} not listed in {self.config.astribanks.xpp_order}",
                hint="name units by their xpp_order labels (usb:SERIAL), or leave units empty",
            )
        return decide.select_entries(order.entries, self.names)

    def look(self) -> decide.Seen:
        astribanks = self.config.astribanks
        listed = readiness.compute(self.entries(), sysfs.scan(astribanks.sysfs)).listed
        try:
            rows = status_rows(self.hw)
        except NoUnitError:
            rows = []
        return decide.Seen(listed, decide.select_rows(rows, self.names))

    def role(self) -> str:
        return str(self.engine.store.read().role)

    def probes(self, active: bool) -> list[decide.StepProbe]:
        if active:
            return [_probe(s, s.check, broken_up=False) for s in self.steps]
        return [_probe(s, s.release_probe, broken_up=True) for s in self.steps]

    def _units(self) -> list[UsbUnit]:
        units = self.hw.units()
        return [u for u in units if not self.names or u.label in self.names]

    # -- actions ---------------------------------------------------------------------------

    def monitor(self) -> Verdict:
        role = self.role()
        return decide.monitor(role, self.look(), self.probes(role == words.ACTIVE))

    def validate(self) -> Verdict:
        """``twinstar check``'s findings (an error: not configured), the ``units`` names, the maintenance file.

        Under Pacemaker the udev hook and the daemon must not take over or
        release by themselves: the configuration's maintenance file must exist.
        """
        from twinstar.ops.checks import run_checks
        from twinstar.ops.findings import Level

        self.entries()
        if not os.path.lexists(self.config.maintenance_file):
            return Verdict(
                OcfStatus.ERR_CONFIGURED,
                f"{self.config.maintenance_file} does not exist: create it, so that the udev hook and the daemon "
                "leave the units to Pacemaker",
            )
        bad = [f for f in run_checks(self.config) if f.level in (Level.ERROR, Level.FAIL)]
        if bad:
            return Verdict(OcfStatus.ERR_CONFIGURED, "; ".join(f.line() for f in bad))
        return Verdict(OcfStatus.SUCCESS, f"{self.config.source}: valid")

    def start(self, timeout_ms: str | None = None) -> Verdict:
        """Wait for the units, arm their watchdog, run the takeover."""
        current = self.monitor()
        if current.status == OcfStatus.SUCCESS:
            return Verdict(OcfStatus.SUCCESS, f"already {current.reason}")
        wait = decide.start_wait(timeout_ms)
        deadline = self.monotonic() + wait
        while (why := decide.waiting_for(self.look())) is not None:
            if self.monotonic() >= deadline:
                return Verdict(OcfStatus.ERR_GENERIC, f"the units did not arrive within {wait:g} s: {why}")
            self.sleep(self.poll)
        units = self._units()
        armed = run_each(self.hw, units, set_watchdog(True), explicit=bool(self.names))
        if overall_status(armed) != ExitStatus.OK:
            return Verdict(OcfStatus.ERR_GENERIC, f"cannot arm the watchdog: {_failures(armed)}")
        report = self.engine.takeover()
        if not report.ok:
            return Verdict(OcfStatus.ERR_GENERIC, f"takeover {report.verdict}: {report.error or 'see the log'}")
        after = self.monitor()
        if after.status != OcfStatus.SUCCESS:
            return Verdict(OcfStatus.ERR_GENERIC, f"started, then: {after.reason}")
        return Verdict(OcfStatus.SUCCESS, f"started: {after.reason}")

    def stop(self) -> Verdict:
        """Release, disarm the watchdog, jump the units to the peer when this node had started."""
        was = self.role()
        report = self.engine.release()
        if not report.ok:
            return Verdict(OcfStatus.ERR_GENERIC, f"release failed: {report.error or 'see the log'}")
        try:
            units = self._units()
        except NoUnitError:
            return Verdict(OcfStatus.SUCCESS, "stopped; no unit on this host")
        disarmed = run_each(self.hw, units, set_watchdog(False), explicit=bool(self.names))
        if overall_status(disarmed) != ExitStatus.OK:
            log.warning("stop: cannot turn every watchdog off: %s", _failures(disarmed))
        if was == words.STANDBY:
            return Verdict(OcfStatus.SUCCESS, "stopped; never started here, the units stay where they are")
        plan = decide.stop_plan(decide.select_rows(status_rows(self.hw), self.names))
        if not plan.jump:
            return Verdict(OcfStatus.SUCCESS, f"stopped; {plan.reason}")
        action, after = jump(self.hw, leave_timeout=self.config.switchover.leave_timeout)
        moved = run_each(self.hw, units, action, explicit=bool(self.names), after=after)
        if overall_status(moved) != ExitStatus.OK:
            # DAHDI is down and the watchdog off: the resource is stopped; the peer's start reports the units.
            log.error("stop: not every unit moved to the peer: %s", _failures(moved))
            return Verdict(OcfStatus.SUCCESS, f"stopped; not every unit moved to the peer: {_failures(moved)}")
        return Verdict(OcfStatus.SUCCESS, f"stopped; {len(moved)} unit(s) moved to the peer")


def agent_for(config: Config, names: tuple[str, ...]) -> Agent:
    return Agent(config, names, Astribanks.from_config(config), engine_for(config))


def verdict_of(exc: TwinstarError) -> Verdict:
    """A twinstar error as an OCF verdict: bad input is not configured, the rest a generic failure."""
    if exc.exit_status == ExitStatus.BAD_INPUT:
        return Verdict(OcfStatus.ERR_CONFIGURED, str(exc))
    return Verdict(OcfStatus.ERR_GENERIC, str(exc))
