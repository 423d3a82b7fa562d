"""Readiness: the listed units against the units present. A pure function.

Each ``xpp_order`` entry is matched by exact string equality: a label entry
against units' labels, an ``@connector`` entry against their connectors. An
empty label or connector never matches. Each entry ends up in one state:

* ``ready``    one unit matches and it is READY and connected;
* ``waiting``  one unit matches but is not READY yet (or its attributes have problems);
* ``leaving``  one unit matches and it is deactivating (after ``offline``);
* ``missing``  no unit matches;
* ``conflict`` several units match, or the unit already matched an earlier entry
  (listed twice, by label and by connector): never counted as ready.

Units that match no entry are *unlisted*; units without label and connector
(still in their ``add`` phase) are *unidentified*. Neither ever counts.
"""

TYPE_CHECKING = False
if TYPE_CHECKING:
    from twinstar.astribank.sysfs import Unit
    from twinstar.astribank.xpporder import Entry

READY = "ready"
WAITING = "waiting"
LEAVING = "leaving"
MISSING = "missing"
CONFLICT = "conflict"
STATES = (READY, WAITING, LEAVING, MISSING, CONFLICT)

#: How many names of one kind the one-line summary shows before "and N more".
SUMMARY_NAMES = 8


class Listed:
    """One ``xpp_order`` entry and what was found for it."""

    __slots__ = ("entry", "unit", "state", "detail")

    def __init__(self, entry: "Entry", unit: "Unit | None", state: str, detail: str = "") -> None:
        self.entry = entry
        self.unit = unit
        self.state = state
        self.detail = detail

    def __repr__(self) -> str:
        return f"<Listed {self.entry.text!r} {self.state} {self.detail}>"


class Readiness:
    """The result of :func:`compute`; its counts are taken once, when it is made."""

    __slots__ = ("listed", "unlisted", "unidentified", "ready_count", "all_ready", "none_present")

    def __init__(self, listed: "tuple[Listed, ...]", unlisted: "tuple[Unit, ...]", unidentified: "tuple[Unit, ...]") -> None:
        self.listed = listed
        self.unlisted = unlisted
        self.unidentified = unidentified
        states = [item.state for item in listed]
        self.ready_count = states.count(READY)
        #: Every listed unit is READY (and at least one is listed).
        self.all_ready = 0 < self.ready_count == len(states)
        #: No listed unit is here any more, except ones that are leaving.
        self.none_present = states.count(MISSING) + states.count(LEAVING) == len(states)

    def entry_for(self, unit_name: str) -> "Listed | None":
        """The entry a unit (``xbus-NN``) matched, if any."""
        for item in self.listed:
            if item.unit is not None and item.unit.name == unit_name:
                return item
        return None

    def summary(self) -> str:
        """One line: ``3/4 ready, missing usb:00000135 (@usb-0000:00:1d.7-2)``."""
        from twinstar.astribank.printable import shown

        parts = [f"{self.ready_count}/{len(self.listed)} ready"]
        if not self.all_ready:
            named: dict[str, list[str]] = {}
            for item in self.listed:
                if item.state == READY:
                    continue
                name = shown(item.entry.text)
                if item.state == MISSING and item.entry.hint:
                    name += f" (@{shown(item.entry.hint)})"
                elif item.detail:
                    name += f" ({item.detail})"
                named.setdefault(item.state, []).append(name)
            for state in (MISSING, WAITING, LEAVING, CONFLICT):
                if state in named:
                    parts.append(f"{state} {_some(named[state])}")
        if self.unlisted:
            shown_units = self.unlisted[:SUMMARY_NAMES]  # only those named: formatting the rest would be wasted
            names = [f"{shown(u.label or '@' + (u.connector or ''))} ({_about(u)})" for u in shown_units]
            parts.append("unlisted " + _some(names, len(self.unlisted)))
        if self.unidentified:
            parts.append("unidentified " + _some([f"{u.name} ({'; '.join(u.problems)})" if u.problems else u.name for u in self.unidentified]))
        return ", ".join(parts)


def _about(unit: "Unit") -> str:
    """The unit's name and, when an attribute could not be read (a label that is a directory), which and why."""
    return f"{unit.name}: {'; '.join(unit.problems)}" if unit.problems else unit.name


def _some(names: list[str], total: int | None = None) -> str:
    """At most :data:`SUMMARY_NAMES` of ``names``, then how many more of ``total`` (default: all of ``names``)."""
    total = len(names) if total is None else total
    if total <= SUMMARY_NAMES:
        return " ".join(names)
    return " ".join(names[:SUMMARY_NAMES]) + f" and {total - SUMMARY_NAMES} more"


def _unit_state(unit: "Unit") -> tuple[str, str]:
    if unit.problems:
        return WAITING, "; ".join(unit.problems)
    if unit.ready:
        return READY, ""
    if unit.leaving:
        return LEAVING, unit.state or ""
    return WAITING, f"{unit.state or 'no state'}, {unit.status or 'no status'}"


def compute(entries: "tuple[Entry, ...] | list[Entry]", units: "list[Unit]") -> "Readiness":
    """Match the listed ``entries`` (in order) against the ``units`` present."""
    by_label: dict[str, list[Unit]] = {}
    by_connector: dict[str, list[Unit]] = {}
    unidentified: list[Unit] = []
    for unit in units:
        label, connector = unit.label, unit.connector
        if label:
            same = by_label.get(label)
            if same is None:
                by_label[label] = [unit]
            else:
                same.append(unit)
        if connector:
            same = by_connector.get(connector)
            if same is None:
                by_connector[connector] = [unit]
            else:
                same.append(unit)
        elif not label:
            unidentified.append(unit)
    claimed: dict[str, Entry] = {}
    listed: list[Listed] = []
    for entry in entries:
        index = by_connector if entry.kind == "connector" else by_label
        matches = index.get(entry.value, ()) if entry.value else ()
        if not matches:
            listed.append(Listed(entry, None, MISSING))
            continue
        if len(matches) > 1:
            for unit in matches:
                claimed.setdefault(unit.name, entry)
            names = ", ".join(u.name for u in matches)
            listed.append(Listed(entry, None, CONFLICT, f"{len(matches)} units match: {names}"))
            continue
        unit = matches[0]
        if unit.name in claimed:
            first = claimed[unit.name]
            listed.append(Listed(entry, unit, CONFLICT, f"{unit.name} is already listed on line {first.line}"))
            continue
        claimed[unit.name] = entry
        state, detail = _unit_state(unit)
        listed.append(Listed(entry, unit, state, detail))
    unlisted = tuple(u for u in units if (u.label or u.connector) and u.name not in claimed)
    return Readiness(tuple(listed), unlisted, tuple(unidentified))
