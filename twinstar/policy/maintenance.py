"""``twinstar maintenance on|off``: the maintenance file and the watchdog, together.

The vendor's rule: the TwinStar watchdog is disabled before DAHDI is stopped
for maintenance, or the units jump to the other server. ``on`` creates the
maintenance file first (from then on no automatic takeover, release or
re-arm) and then disables the watchdog of every unit on this host; ``off``
removes the file and, when this node serves (role ``active``), enables the
watchdog again. Both are idempotent: run twice, the second changes nothing
and says so.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from twinstar.config import Config
from twinstar.engine.state import Role, StateStore
from twinstar.errors import ExitStatus, TwinstarError
from twinstar.policy import edges, notify
from twinstar.policy.consult import Announcer
from twinstar.usb.units import UnitOutcome, overall_status


@dataclass
class MaintenanceReport:
    on: bool
    file_changed: bool
    watchdog: list[UnitOutcome] = field(default_factory=list)
    watchdog_note: str | None = None
    error: str | None = None

    @property
    def exit_status(self) -> ExitStatus:
        if self.error:
            return ExitStatus.FAILED
        return overall_status(self.watchdog) if self.watchdog else ExitStatus.OK

    def lines(self, path: str) -> list[str]:
        state = "on" if self.on else "off"
        what = ("created " if self.on else "removed ") + path if self.file_changed else f"{path} already {'present' if self.on else 'absent'}"
        lines = [f"maintenance {state}: {what}"]
        lines += [f"  watchdog {o.unit}: {o.result.value}: {o.message}" for o in self.watchdog]
        if self.watchdog_note:
            lines.append(f"  watchdog: {self.watchdog_note}")
        if self.error:
            lines.append(f"  FAILED: {self.error}")
        return lines

    def to_json(self, path: str) -> dict[str, object]:
        return {
            "ok": self.exit_status == ExitStatus.OK, "maintenance": self.on, "file": path, "file_changed": self.file_changed,
            "watchdog": [{"unit": o.unit, "result": o.result.value, "message": o.message} for o in self.watchdog],
            "watchdog_note": self.watchdog_note, "error": self.error,
        }


def _create(path: str) -> bool:
    """Create the maintenance file (not through a symlink); False when it was there."""
    if os.path.lexists(path):
        return False
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    try:
        os.write(fd, b"twinstar maintenance on: no automatic takeover, release or watchdog re-arm while this file exists\n")
    finally:
        os.close(fd)
    return True


def _remove(path: str) -> bool:
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    return True


def set_maintenance(config: Config, on: bool, *, announce: Announcer | None = None) -> MaintenanceReport:
    """Maintenance on (file, then watchdog off) or off (file gone, watchdog on when serving)."""
    path = config.maintenance_file
    try:
        changed = _create(path) if on else _remove(path)
    except OSError as exc:
        return MaintenanceReport(on, False, error=f"cannot {'create' if on else 'remove'} {path}: {exc.strerror}")
    report = MaintenanceReport(on, changed)
    serving = StateStore(config.state_dir).read().role == Role.ACTIVE
    if on or serving:
        try:
            report.watchdog = edges.set_watchdogs(config, on=not on)
        except TwinstarError as exc:
            report.error = f"cannot reach the units to set the watchdog {'off' if on else 'on'}: {exc}"
    else:
        report.watchdog_note = "left off: this node does not serve (role is not active)"
    if changed:
        (announce or Announcer(config))(notify.MAINTENANCE, f"maintenance {'on' if on else 'off'}", maintenance=on)
    return report
