"""Is this node ready for TwinStar? The checks of ``twinstar setup``, as a pure function.

Inputs are what was read at the edges: the xbus devices from sysfs with
their XPDs, and each Astribank's TwinStar state over USB. The checks, each
reported with the unit it concerns:

* the xpp driver's sysfs (``bus/astribanks``) is present and shows units;
* every xbus is READY and connected, and every one of its XPDs is registered
  with DAHDI (span not 0), no span claimed twice;
* every Astribank on USB answers, is TwinStar-capable, and has an xbus;
  every xbus has its USB device (matched by bus and device number);
* all units report the same active port;
* both ports of each unit are powered (a warning when not: no failover);
* labels are usable in ``xpp_order`` (a warning when not: the unit is listed
  by connector), and the connector is usable when the label is not.

Levels: ``error`` is malformed sysfs contents (exit 2), ``fail`` a check that
failed (exit 1), ``warning`` and ``ok`` do not stop the node from being ready.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from twinstar.astribank.printable import shown
from twinstar.astribank.sysfs import READY, Unit
from twinstar.errors import ExitStatus
from twinstar.nodesetup.xpds import XpdReading
from twinstar.nodesetup.xppgen import OrderedUnit, connector_problem, label_problem
from twinstar.ops.findings import Finding, Level, exit_status

if TYPE_CHECKING:  # the rows are read at the edge (probe); deciding needs no USB stack
    from twinstar.usb.units import UnitStatusRow


@dataclass(frozen=True)
class Assessment:
    findings: tuple[Finding, ...]
    order: tuple[OrderedUnit, ...]

    @property
    def exit_status(self) -> ExitStatus:
        return exit_status(self.findings)

    @property
    def ready(self) -> bool:
        return self.exit_status == ExitStatus.OK

    def to_json(self) -> dict[str, Any]:
        return {
            "ready": self.ready,
            "findings": [f.to_json() for f in self.findings],
            "order": [
                {"xbus": u.xbus, "label": u.label, "connector": u.connector, "first_span": u.first_span}
                for u in self.order
            ],
        }


def _subject(unit: Unit) -> str:
    parts = [unit.xbus]
    if unit.label:
        parts.append(shown(unit.label))
    if unit.connector:
        parts.append("@" + shown(unit.connector))
    return " ".join(parts)


def _usb_device(unit: Unit) -> str | None:
    """The xbus's USB device as the USB rows name it (``usb:BBB/DDD``), None without a transport."""
    if unit.busnum is None or unit.devnum is None:
        return None
    return f"usb:{unit.busnum:03d}/{unit.devnum:03d}"


def assess(
    *,
    driver_present: bool,
    units: Sequence[Unit],
    xpds: Mapping[str, XpdReading],
    usb_rows: Sequence[UnitStatusRow],
    usb_error: str | None = None,
) -> Assessment:
    """All findings, and the units in registration order (empty unless every unit is usable)."""
    findings: list[Finding] = []
    add = findings.append
    if not driver_present:
        add(Finding(Level.FAIL, "xpp driver", "no bus/astribanks in sysfs: the xpp driver is not loaded"))
    elif not units:
        add(Finding(Level.FAIL, "xpp driver", "no Astribank is registered by the xpp driver"))
    else:
        add(Finding(Level.OK, "xpp driver", f"{len(units)} xbus device(s)"))

    by_device = {r.device: r for r in usb_rows}
    matched: set[str] = set()
    label_counts = Counter(u.label for u in units if u.label)
    span_owner: dict[int, str] = {}
    order: list[OrderedUnit] = []
    usable = True

    for unit in units:
        subject = _subject(unit)
        before = len(findings)
        for problem in unit.problems:
            add(Finding(Level.ERROR, subject, problem))
        reading = xpds.get(unit.name, XpdReading((), ()))
        for problem in reading.problems:
            add(Finding(Level.ERROR, subject, problem))
        if unit.state is not None and unit.state != READY:
            add(Finding(Level.FAIL, subject, f"xbus_state is {unit.state}, expected READY"))
        if unit.status is not None and unit.status != "connected":
            add(Finding(Level.FAIL, subject, f"status is {unit.status}, expected connected"))
        if not reading.xpds and not reading.problems:
            add(Finding(Level.FAIL, subject, "has no XPDs"))
        unregistered = [x.name for x in reading.xpds if x.span == 0]
        if unregistered:
            add(
                Finding(
                    Level.FAIL,
                    subject,
                    "not registered with DAHDI: span 0 on XPD " + ", ".join(unregistered)
                    + " (start DAHDI, or write 1 to its dahdi_registration)",
                )
            )
        for xpd in reading.xpds:
            if xpd.span and xpd.span in span_owner:
                add(Finding(Level.FAIL, subject, f"span {xpd.span} of XPD {xpd.name} is also claimed by {span_owner[xpd.span]}"))
            elif xpd.span:
                span_owner[xpd.span] = f"{unit.xbus} XPD {xpd.name}"
        label = unit.label or ""
        label_note = label_problem(label)
        if label_note is None and label_counts[label] > 1:
            label_note = "shared with another unit"
        connector_note = connector_problem(unit.connector or "")
        if label_note is not None:
            if connector_note is not None:
                add(Finding(Level.FAIL, subject, f"label unusable ({label_note}) and connector unusable ({connector_note}): it cannot be listed in xpp_order"))
            else:
                add(Finding(Level.WARNING, subject, f"label unusable ({label_note}): listed in xpp_order by @connector"))
        device = _usb_device(unit)
        if device is None or device not in by_device:
            where = device or "its USB device (no transport)"
            add(Finding(Level.FAIL, subject, f"{where} is not among the Astribanks on USB: cannot check TwinStar"))
        else:
            matched.add(device)
        failed = any(f.level in (Level.FAIL, Level.ERROR) for f in findings[before:])
        if not failed:
            add(Finding(Level.OK, subject, f"READY, registered with DAHDI (spans {_spans(reading)})"))
        first = reading.first_span
        if failed or first is None:
            usable = False
        else:
            order.append(OrderedUnit(unit.xbus, label, unit.connector or "", first))

    if usb_error is not None:
        add(Finding(Level.FAIL, "USB", usb_error))
    ports: dict[int, list[str]] = {}
    for row in usb_rows:
        if row.error:
            add(Finding(Level.FAIL, row.title, f"cannot query over USB: {row.error}"))
            continue
        if row.capable is False:
            add(Finding(Level.FAIL, row.title, f"not TwinStar-capable: {row.note}"))
            continue
        if row.device not in matched:
            add(Finding(Level.FAIL, row.title, "has no xbus: the xpp driver has not registered it"))
        if row.port is not None:
            ports.setdefault(row.port, []).append(row.device)
        powered = [p for p, on in ((0, row.power0), (1, row.power1)) if on]
        if len(powered) == 2:
            add(Finding(Level.OK, row.title, f"TwinStar-capable, active port {row.port}, both ports powered"))
        else:
            which = f"only USB-{powered[0]} has" if powered else "neither port has"
            add(
                Finding(
                    Level.WARNING,
                    row.title,
                    f"TwinStar-capable, active port {row.port}, but {which} power: it cannot fail over "
                    "until both servers are cabled and running",
                )
            )
    if len(ports) > 1:
        detail = "; ".join(f"port {p}: {', '.join(devs)}" for p, devs in sorted(ports.items()))
        add(Finding(Level.FAIL, "ports", f"units report different active ports ({detail}); jump them to one server"))
    elif ports:
        add(Finding(Level.OK, "ports", f"all units are on port {next(iter(ports))}"))

    ready_order = tuple(sorted(order, key=lambda u: u.first_span)) if usable and units else ()
    return Assessment(tuple(findings), ready_order)


def _spans(reading: XpdReading) -> str:
    spans = reading.spans
    if len(spans) > 1 and spans == list(range(spans[0], spans[-1] + 1)):
        return f"{spans[0]}-{spans[-1]}"
    return ", ".join(str(s) for s in spans)
