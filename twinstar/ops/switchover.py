"""``twinstar switchover``: planned hand-over from the active node to its peer.

First the engine's preflight, with the drain check's program: one missing,
or (as root) one another user could replace, is exit 2 before anything runs.
Then in order, stopping at the first part that does not hold:

1. power: every TwinStar unit on this host is read over USB; when the peer's
   port has no power on any unit, refuse (exit 3) before anything is released:
   the units would have no host to go to;
2. drain: when ``switchover.drain_check`` is configured, run it every
   ``drain_poll`` seconds until it reports 0 active calls (read as
   :func:`parse_calls` says); still busy after the drain timeout is a refusal
   (exit 3), nothing released. A drain timeout of 0 hands over at once;
3. release: the takeover steps undone in reverse order (the engine); a failed
   release stops here (exit 1) and the units stay. From here until this
   process ends, a pending hand-off record keeps the hook and the daemon from
   taking the node over again while its units are still here;
4. jump: each unit switched to the peer's port and confirmed gone from this
   host; each unit's result is reported (exit 1 if any failed).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import KW_ONLY, dataclass, field
from typing import Any

from twinstar.config import Config
from twinstar.engine.proc import ProgramRunner
from twinstar.engine.report import Report
from twinstar.engine.runner import Engine, engine_for
from twinstar.errors import ExitStatus, ProgramError, RefusedError, TwinstarError
from twinstar.fastpath import procid
from twinstar.usb.units import (
    Astribanks,
    UnitOutcome,
    UnitStatusRow,
    jump,
    overall_status,
    run_each,
    set_watchdog,
    status_rows,
)


@dataclass(frozen=True)
class PowerCheck:
    """Per unit: where it is and whether the peer's port is powered."""

    unit: str
    port: int | None
    peer_powered: bool | None
    error: str | None = None

    @property
    def text(self) -> str:
        if self.error:
            return f"{self.unit}: {self.error}"
        return f"{self.unit}: port {self.port}, USB-{1 - (self.port or 0)} {'powered' if self.peer_powered else 'NOT powered'}"


@dataclass
class SwitchoverReport:
    exit_status: ExitStatus = ExitStatus.OK
    power: list[PowerCheck] = field(default_factory=list)
    drain: str | None = None
    release: Report | None = None
    jump: list[UnitOutcome] = field(default_factory=list)
    error: str | None = None
    duration: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.exit_status == ExitStatus.OK,
            "exit_status": int(self.exit_status),
            "error": self.error,
            "power": [{"unit": p.unit, "port": p.port, "peer_powered": p.peer_powered, "error": p.error} for p in self.power],
            "drain": self.drain,
            "release": self.release.to_json() if self.release else None,
            "jump": [{"unit": o.unit, "result": o.result.value, "message": o.message} for o in self.jump],
            "duration_ms": round(self.duration * 1000, 1),
        }


def check_power(rows: Sequence[UnitStatusRow]) -> list[PowerCheck]:
    """The peer-port power of each TwinStar unit (pure); units that are not capable are left out."""
    checks = []
    for row in rows:
        if row.error:
            checks.append(PowerCheck(row.title, None, None, row.error))
        elif row.capable and row.port is not None:
            peer = row.power1 if row.port == 0 else row.power0
            checks.append(PowerCheck(row.title, row.port, bool(peer)))
    return checks


def _is_count(word: str) -> bool:
    return word.isascii() and word.isdigit()


def _word(word: str) -> str:
    """A word compared without case or a plural "s": "Calls" is "call"."""
    return word.lower().removesuffix("s")


def parse_calls(text: str, argv: Sequence[str], count_line: str | None = None) -> int:
    """The number of active calls in the drain check's output ``text``.

    Without ``count_line`` the output is one non-negative whole number. With
    it, the count is the whole number that begins the one line holding the
    words of ``count_line`` in a row, singular and plural alike: ``active call``
    reads 2 from Asterisk's ``core show channels count`` lines ``4 active
    channels`` / ``2 active calls`` / ``7 calls processed``, and also from
    ``2 of 100 max active calls (2.00% of capacity)`` (with ``maxcalls`` set).
    """
    if count_line is None:
        words = text.split()
        found = [words[0]] if len(words) == 1 and _is_count(words[0]) else []
        expected = "the number of active calls"
    else:
        label = [_word(w) for w in count_line.split()]
        found = []
        for line in text.splitlines():
            words = line.split()
            if not words or not _is_count(words[0]):
                continue
            rest = [_word(w) for w in words[1:]]
            if any(rest[i : i + len(label)] == label for i in range(len(rest))):
                found.append(words[0])
        expected = f"one line that begins with the number of active calls and holds the words {count_line!r}"
    if len(found) != 1:
        raise TwinstarError(
            f"drain check {' '.join(argv)} printed {text.strip()[:120]!r}, expected {expected}",
            hint="fix switchover.drain_check or switchover.drain_count_line in the configuration",
        )
    return int(found[0])


@dataclass
class Switchover:
    """The hand-over, with its edges injected (USB, engine, program runner, clock)."""

    config: Config
    hw: Astribanks
    engine: Engine
    runner: ProgramRunner
    _: KW_ONLY
    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic

    def preflight(self) -> None:
        """The engine's preflight, with the drain check's program too: as root, a
        program another user can replace is a ConfigError (exit 2), before anything runs."""
        drain = self.config.switchover.drain_check
        self.engine.preflight(also=[("switchover.drain_check", drain[0])] if drain else [])

    def run(self, *, drain_timeout: float | None = None) -> SwitchoverReport:
        """The hand-over; bad input (:meth:`preflight`) is raised before anything is done."""
        self.preflight()
        report = SwitchoverReport()
        started = self.monotonic()
        try:
            self._power(report)
            self._drain(report, self.config.switchover.drain_timeout if drain_timeout is None else drain_timeout)
            self._hold_decisions()
            report.release = self.engine.release()
            self._hold_decisions()
            if not report.release.ok:
                raise TwinstarError(
                    "the release failed; the units were not moved",
                    hint="see the release steps above; fix and run twinstar switchover again",
                )
            # This node no longer serves: its watchdog off before the units go (armed again by the
            # takeover that serves next), so that it cannot send them back to this node.
            run_each(self.hw, self.hw.units(), set_watchdog(False), explicit=False)
            action, after = jump(self.hw, leave_timeout=self.config.switchover.leave_timeout)
            report.jump = run_each(self.hw, self.hw.units(), action, explicit=False, after=after)
            report.exit_status = overall_status(report.jump)
            if report.exit_status != ExitStatus.OK:
                report.error = "not every unit moved to the peer"
        except TwinstarError as exc:
            report.exit_status = exc.exit_status
            report.error = str(exc)
        report.duration = self.monotonic() - started
        return report

    def _hold_decisions(self) -> None:
        """Record this switchover as a pending hand-off, so hooks and the daemon wait for it.

        Between the release and the units leaving, every unit is still READY
        on a node that is now standby: without this record, an event or a
        periodic evaluation would take the node over again. The record names
        this process; it stops blocking when the process is gone. It is written
        again after the release, whose end counts as a newer transition.
        """
        from twinstar import settings
        from twinstar.engine.lock import FileLock
        from twinstar.hotplug import handoff

        state_dir = self.config.state_dir
        with FileLock(os.path.join(state_dir, settings.HANDOFF_LOCK_FILE), timeout=self.config.lock_timeout):
            pid = os.getpid()
            handoff.write_record(
                state_dir,
                {
                    "action": "switchover",
                    "time": time.time(),
                    "mode": "switchover",
                    "node": self.config.node,
                    "pid": pid,
                    "start": procid.process_start(pid),
                },
            )

    def _power(self, report: SwitchoverReport) -> None:
        report.power = check_power(status_rows(self.hw))
        if not report.power:
            raise TwinstarError("no TwinStar-capable unit on this host; nothing to hand over")
        broken = [p for p in report.power if p.error]
        if broken:
            raise TwinstarError(f"cannot read {broken[0].unit}; nothing was released")
        dark = [p.unit for p in report.power if not p.peer_powered]
        if dark:
            raise RefusedError(
                f"the peer's port has no power on {', '.join(dark)}; nothing was released",
                hint="start or cable the peer server first (twinstar status shows POWER0/POWER1)",
            )

    def _drain(self, report: SwitchoverReport, timeout: float) -> None:
        argv = self.config.switchover.drain_check
        if argv is None:
            report.drain = "no drain check configured"
            return
        if timeout <= 0:
            report.drain = "not waiting for calls (drain timeout 0)"
            return
        deadline = self.monotonic() + timeout
        while True:
            try:
                result = self.runner.run(argv, timeout=max(1.0, timeout))
            except ProgramError as exc:
                raise TwinstarError(f"drain check failed: {exc}; nothing was released") from None
            calls = parse_calls(result.stdout, argv, self.config.switchover.drain_count_line)
            if calls == 0:
                waited = timeout - max(0.0, deadline - self.monotonic())
                report.drain = f"no active calls (waited {waited:.1f} s)"
                return
            if self.monotonic() >= deadline:
                raise RefusedError(
                    f"{calls} call(s) still active after {timeout:g} s; nothing was released",
                    hint="wait, or hand over at once with --drain-timeout 0",
                )
            self.sleep(self.config.switchover.drain_poll)


def switchover_for(config: Config) -> Switchover:
    runner = ProgramRunner(programs=config.program_map)
    return Switchover(config, Astribanks.from_config(config), engine_for(config, runner=runner), runner)
