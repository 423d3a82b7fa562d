"""The TwinStar operations on the units this host sees: status, ports, watchdog, jump.

Each operation runs on every selected unit; a failure on one unit is recorded
in its :class:`UnitOutcome` and the others still run. Commands print the outcomes
and derive the exit status with :func:`overall_status`.
"""

from __future__ import annotations

from contextlib import contextmanager
from enum import StrEnum

from twinstar.astribank.printable import shown
from twinstar.errors import ExitStatus, TwinstarError
from twinstar.usb import mpp
from twinstar.usb.errors import (
    LeaveTimeoutError,
    NoPowerError,
    NotCapableError,
    NoUnitError,
    UsbProtocolError,
)
from twinstar.usb.transport import (
    NO_UNIT,
    BusChoice,
    Link,
    UsbUnit,
    choose_bus,
    open_backend,
    scan,
    select,
    wait_gone,
)
from twinstar.usb.values import Value

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping, Sequence
    from typing import Any

    from twinstar.config import Config

DEFAULT_LEAVE_TIMEOUT = 15.0


class Astribanks:
    """The Astribanks one host sees through one backend (real libusb or the simulator)."""

    def __init__(self, choice: BusChoice, *, backend: Any = None) -> None:
        self.choice = choice
        self.backend = backend if backend is not None else open_backend(choice)

    @classmethod
    def from_config(cls, config: Config | None, environ: Mapping[str, str] | None = None) -> Astribanks:
        return cls(choose_bus(config.usb if config is not None else None, environ))

    def scan(self) -> list[UsbUnit]:
        return scan(self.backend)

    def units(self, devices: Sequence[str] = ()) -> list[UsbUnit]:
        """The units named by ``devices`` (all when empty); none at all is an error."""
        units = self.scan()
        if not units:
            raise NoUnitError(NO_UNIT)
        return select(units, devices) if devices else units

    @contextmanager
    def session(self, unit: UsbUnit) -> Iterator[mpp.MppSession]:
        with Link(unit, lock_dir=self.choice.lock_dir) as link:
            yield mpp.MppSession(link, unit.title)


def capability_note(session: mpp.MppSession, unit: UsbUnit) -> str | None:
    """None when ``unit`` is TwinStar-capable, else why not (asks STATUS_GET and CAPS_GET)."""
    return mpp.twinstar_capability(unit.product_id, session.status(), session.caps())


# --- status -------------------------------------------------------------------------------


class UnitStatusRow(Value):
    """One row of ``twinstar status``."""

    __slots__ = ("device", "label", "product", "capable", "note", "port", "watchdog", "power0", "power1", "error")

    def __init__(
        self, device: str, label: str, product: str, *, capable: bool | None = None, note: str | None = None,
        port: int | None = None, watchdog: bool | None = None, power0: bool | None = None,
        power1: bool | None = None, error: str | None = None,
    ) -> None:
        self.device = device
        self.label = label
        self.product = product
        self.capable = capable
        self.note = note
        self.port = port
        self.watchdog = watchdog
        self.power0 = power0
        self.power1 = power1
        self.error = error

    @property
    def title(self) -> str:
        """How findings name the unit."""
        return f"{self.device} ({shown(self.label)})" if self.label else self.device

    def to_json(self) -> dict[str, Any]:
        return {
            "device": self.device, "label": self.label, "product": self.product,
            "twinstar_capable": self.capable, "note": self.note, "port": self.port,
            "watchdog": self.watchdog, "power0": self.power0, "power1": self.power1, "error": self.error,
        }


def query(hw: Astribanks, unit: UsbUnit) -> UnitStatusRow:
    """Read one unit's TwinStar state; errors end up in the row, not raised."""
    device, label, product = unit.name, unit.label, f"{unit.product_id:04x}"
    note = mpp.product_note(unit.product_id)
    if note is not None:
        return UnitStatusRow(device, label, product, capable=False, note=note)
    try:
        with hw.session(unit) as s:
            note = capability_note(s, unit)
            if note is not None:
                return UnitStatusRow(device, label, product, capable=False, note=note)
            power0, power1 = s.power()
            return UnitStatusRow(
                device, label, product, capable=True, port=s.port(), watchdog=s.watchdog(), power0=power0, power1=power1
            )
    except TwinstarError as exc:
        return UnitStatusRow(device, label, product, error=str(exc))


def status_rows(hw: Astribanks, devices: Sequence[str] = ()) -> list[UnitStatusRow]:
    """Every unit (or those named by ``devices``) with its TwinStar state."""
    return [query(hw, u) for u in hw.units(devices)]


def usb_status(config: Config | None, *, environ: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """Every Astribank on this host with its TwinStar state, as JSON-ready dicts.

    Raises :class:`NoUnitError` when no Astribank is connected.
    """
    return [row.to_json() for row in status_rows(Astribanks.from_config(config, environ))]


def _yes(value: bool | None, yes: str = "yes", no: str = "no") -> str:
    return "-" if value is None else (yes if value else no)


def _as_json(row: UnitStatusRow | Mapping[str, Any]) -> dict[str, Any]:
    return row.to_json() if isinstance(row, UnitStatusRow) else dict(row)


#: The original Perl ``twinstar status`` row: ``printf "%-15s %-10s %-15s %-10s %-10s\n"``.
VENDOR_COLUMNS = ("DEVICE", "PORT", "WATCHDOG", "POWER0", "POWER1")


def _vendor_line(device: str, port: str, watchdog: str, power0: str, power1: str) -> str:
    return f"{device:<15} {port:<10} {watchdog:<15} {power0:<10} {power1:<10}"


def render_status(rows: Sequence[UnitStatusRow] | Sequence[Mapping[str, Any]]) -> str:
    """The vendor's table, byte for byte: header, then one line per unit whose TwinStar state was read.

    Units that are not TwinStar-capable or could not be read have no line (the
    original wrote a note on stderr for them too: see :func:`status_notes`).
    """
    lines = [_vendor_line(*VENDOR_COLUMNS)]
    for r in map(_as_json, rows):
        if r["twinstar_capable"] and not r["error"]:
            lines.append(
                _vendor_line(r["device"], str(r["port"]), _yes(r["watchdog"], "on", "off"), _yes(r["power0"]), _yes(r["power1"]))
            )
    return "\n".join(lines)


def status_notes(rows: Sequence[UnitStatusRow] | Sequence[Mapping[str, Any]]) -> list[str]:
    """Why a unit has no line in the vendor's table (``usb:001/005: not TwinStar-capable: ...``)."""
    notes = []
    for r in map(_as_json, rows):
        if r["twinstar_capable"] is False and not r["error"]:
            notes.append(f"{r['device']}: not TwinStar-capable: {r['note']}")
    return notes


def render_status_long(rows: Sequence[UnitStatusRow] | Sequence[Mapping[str, Any]]) -> str:
    """The labelled table of ``twinstar status -v``: the vendor's columns with LABEL, and NOTE."""
    lines = [f"{'DEVICE':<15}{'LABEL':<21}{'PORT':<10}{'WATCHDOG':<15}{'POWER0':<10}{'POWER1':<10}NOTE"]
    for r in map(_as_json, rows):
        note = ""
        if r["error"]:
            note = f"error: {r['error']}"
        elif r["twinstar_capable"] is False:
            note = f"not TwinStar-capable: {r['note']}"
        port = "-" if r["port"] is None else str(r["port"])
        line = (
            f"{r['device']:<15}{r['label'] or '-':<21}{port:<10}{_yes(r['watchdog'], 'on', 'off'):<15}"
            f"{_yes(r['power0']):<10}{_yes(r['power1']):<10}{note}"
        )
        lines.append(line.rstrip())
    return "\n".join(lines)


# --- operations on each unit ---------------------------------------------------------------


class UnitResult(StrEnum):
    DONE = "done"
    SKIPPED = "skipped"
    FAILED = "failed"
    REFUSED = "refused"


class UnitOutcome(Value):
    """What an operation did on one unit (``unit`` is how messages name it)."""

    __slots__ = ("unit", "result", "message", "device", "label")

    def __init__(self, unit: str, result: UnitResult, message: str, *, device: str = "", label: str = "") -> None:
        self.unit = unit
        self.result = result
        self.message = message
        self.device = device
        self.label = label

    def to_json(self) -> dict[str, Any]:
        return {"device": self.device, "label": self.label, "result": self.result.value, "message": self.message}


if TYPE_CHECKING:
    Action = Callable[[mpp.MppSession, UsbUnit], str]
    After = Callable[[UsbUnit, str], str]


def run_each(
    hw: Astribanks, units: Sequence[UsbUnit], action: Action, *, explicit: bool, after: After | None = None
) -> list[UnitOutcome]:
    """Run ``action`` on each TwinStar-capable unit; never stops at a failing unit.

    Units that are not TwinStar-capable are skipped when the operator did not
    name them (``explicit`` False) and fail when they did. ``after`` runs once
    the unit's interface is released (the jump's leave check).
    """
    outcomes = []
    for unit in units:
        try:
            message = on_capable(hw, unit, action)
            if after is not None:
                message = after(unit, message)
            outcomes.append(_outcome(unit, UnitResult.DONE, message))
        except NotCapableError as exc:
            if explicit:
                outcomes.append(_outcome(unit, UnitResult.FAILED, str(exc)))
            else:
                outcomes.append(_outcome(unit, UnitResult.SKIPPED, f"not TwinStar-capable: {exc.note}"))
        except TwinstarError as exc:
            refused = exc.exit_status == ExitStatus.REFUSED
            outcomes.append(_outcome(unit, UnitResult.REFUSED if refused else UnitResult.FAILED, str(exc)))
    return outcomes


def _outcome(unit: UsbUnit, result: UnitResult, message: str) -> UnitOutcome:
    return UnitOutcome(unit.title, result, message, device=unit.name, label=unit.label)


def on_capable(hw: Astribanks, unit: UsbUnit, action: Action) -> str:
    """``action``'s message, run on ``unit`` when it is TwinStar-capable; else :class:`NotCapableError`."""
    note = mpp.product_note(unit.product_id)
    if note is None:
        with hw.session(unit) as s:
            note = capability_note(s, unit)
            if note is None:
                return action(s, unit)
    raise NotCapableError(unit.title, note)


def overall_status(outcomes: Sequence[UnitOutcome]) -> ExitStatus:
    """1 if any unit failed, else 3 if any was refused, else 0 (none done at all: 1)."""
    results = {o.result for o in outcomes}
    if UnitResult.FAILED in results:
        return ExitStatus.FAILED
    if UnitResult.REFUSED in results:
        return ExitStatus.REFUSED
    if UnitResult.DONE not in results:
        return ExitStatus.FAILED
    return ExitStatus.OK


def set_watchdog(on: bool) -> Action:
    def action(s: mpp.MppSession, unit: UsbUnit) -> str:
        s.set_watchdog(on)
        if s.watchdog() != on:
            raise UsbProtocolError(
                f"{unit.title}: the watchdog still reads {'off' if on else 'on'} after setting it {'on' if on else 'off'}"
            )
        return f"watchdog {'on' if on else 'off'}"

    return action


def read_port(s: mpp.MppSession, unit: UsbUnit) -> str:
    return str(s.port())


def jump(hw: Astribanks, *, leave_timeout: float) -> tuple[Action, After]:
    """Switch to the other port, refusing when it has no power; then confirm the unit left."""

    def action(s: mpp.MppSession, unit: UsbUnit) -> str:
        port = s.port()
        other = 1 - port
        if not s.power()[other]:
            raise NoPowerError(
                f"{unit.title}: refused to jump from port {port} to port {other}: "
                f"USB-{other} has no power; nothing was changed",
                hint=f"start or cable the server on USB-{other} first",
            )
        s.set_port(other)
        return f"jumped from port {port} to port {other}"

    def after(unit: UsbUnit, message: str) -> str:
        if not wait_gone(unit, hw.backend, timeout=leave_timeout):
            raise LeaveTimeoutError(
                f"{unit.title}: sent the port switch but the unit is still on this host after {leave_timeout:g} s",
                hint="check the other port's cable; run twinstar status",
            )
        return f"{message}; it has left this host"

    return action, after
