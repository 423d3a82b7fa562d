"""Readiness for ``twinstar status``: each listed unit and the node's role.

Not on the hook's hot path; built from the same readers and the same pure
:func:`~twinstar.astribank.readiness.compute` as the hook.
"""

from __future__ import annotations

from typing import Any

from twinstar.astribank import readiness, sysfs, xpporder
from twinstar.astribank.printable import shown
from twinstar.config import Config
from twinstar.errors import TwinstarError


def readiness_report(config: Config) -> dict[str, Any]:
    """One JSON-ready object: listed units (label, connector, xbus, state), unlisted units, role.

    Problems (a missing ``xpp_order``, unreadable sysfs, a broken state file)
    are reported in ``errors`` rather than raised, so status always shows what it can.
    """
    from twinstar.fastpath import statefile

    out: dict[str, Any] = {
        "xpp_order": config.astribanks.xpp_order,
        "sysfs": config.astribanks.sysfs,
        "listed": [],
        "unlisted": [],
        "unidentified": [],
        "ready": 0,
        "all_ready": False,
        "summary": "",
        "role": None,
        "errors": [],
    }
    try:
        node = statefile.read_node(config.state_dir)
        out["role"] = node.role + (" (interrupted)" if node.interrupted else "")
    except TwinstarError as exc:
        out["errors"].append(str(exc))
    try:
        units = sysfs.scan(config.astribanks.sysfs, transport=True)
    except TwinstarError as exc:
        out["errors"].append(str(exc))
        units = []
    try:
        entries = xpporder.load(config.astribanks.xpp_order).entries
    except TwinstarError as exc:
        out["errors"].append(str(exc))
        entries = ()
    result = readiness.compute(entries, units)
    for item in result.listed:
        unit = item.unit
        out["listed"].append(
            {
                "entry": item.entry.text,
                "line": item.entry.line,
                "label": unit.label if unit else (item.entry.value if item.entry.kind == xpporder.LABEL else None),
                "connector": unit.connector if unit else (item.entry.value if item.entry.kind == xpporder.CONNECTOR else item.entry.hint),
                "xbus": unit.xbus if unit else None,
                "xbus_state": unit.state if unit else None,
                "status": unit.status if unit else None,
                "usb": f"usb:{unit.busnum:03d}/{unit.devnum:03d}" if unit and unit.busnum is not None and unit.devnum is not None else None,
                "state": item.state,
                "detail": item.detail,
            }
        )
    for key, group in (("unlisted", result.unlisted), ("unidentified", result.unidentified)):
        for unit in group:
            out[key].append(
                {"xbus": unit.xbus, "label": unit.label, "connector": unit.connector, "xbus_state": unit.state, "problems": list(unit.problems)}
            )
    out["ready"] = result.ready_count
    out["all_ready"] = result.all_ready
    out["summary"] = result.summary()
    return out


def _problems(item: dict[str, Any]) -> str:
    """`` (label: is a directory, expected a regular file)`` for a unit with unreadable attributes, else ''."""
    return f" ({shown('; '.join(item['problems']))})" if item["problems"] else ""


def render_readiness(report: dict[str, Any]) -> str:
    """The human-readable table of :func:`readiness_report`."""
    lines = [f"role: {report['role'] or 'unknown'}", f"readiness ({report['xpp_order']}): {report['summary'] or 'no units listed'}"]
    rows = [("#", "LABEL", "CONNECTOR", "XBUS", "XBUS_STATE", "READINESS")]
    for i, item in enumerate(report["listed"], start=1):
        state = item["state"] + (f" ({item['detail']})" if item["detail"] else "")
        rows.append((str(i), shown(item["label"]) if item["label"] is not None else "-", shown(item["connector"]) if item["connector"] else "-",
                     item["xbus"] or "-", item["xbus_state"] or "-", state))
    for item in report["unlisted"]:
        rows.append(("-", shown(item["label"]) if item["label"] else "-", shown(item["connector"]) if item["connector"] else "-",
                     item["xbus"], item["xbus_state"] or "-", "unlisted" + _problems(item)))
    for item in report["unidentified"]:
        rows.append(("-", "-", "-", item["xbus"], item["xbus_state"] or "-", "unidentified " + (_problems(item) or "(still probing)")))
    if len(rows) > 1:
        widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]) - 1)]
        for r in rows:
            lines.append("  " + "  ".join(v.ljust(w) for v, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1])
    for error in report["errors"]:
        lines.append(f"error: {error}")
    return "\n".join(lines)
