"""Generate ``xpp_order`` and write it safely.

One line per unit in DAHDI registration order (by the first span of its
XPDs): ``label<TAB># @connector XBUS-NN``, the form ``dahdi_genconf xpporder``
writes. A unit whose label cannot be listed (empty, non-printable, holding
``#``, leading or trailing whitespace, longer than the driver's 19 bytes, or
shared with another unit) is listed as ``@connector`` instead, with the same
comment (``@connector<TAB># @connector XBUS-NN``), so it is never silently
left out (the original left a blank line).

The text is parsed back with :mod:`twinstar.astribank.xpporder` before it is
written, so twinstar can always read what it wrote. Writing keeps the old
file as ``xpp_order.bak`` and replaces the file atomically (temp, fsync,
rename, fsync of the directory).
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from twinstar.astribank import xpporder
from twinstar.errors import TwinstarError
from twinstar.fastpath.atomic import fsync_file, replace_file


@dataclass(frozen=True)
class OrderedUnit:
    """What the file needs to know of one unit."""

    xbus: str  # "XBUS-00"
    label: str
    connector: str
    first_span: int


def label_problem(label: str) -> str | None:
    """Why ``label`` cannot be an ``xpp_order`` line, or None when it can."""
    if not label:
        return "empty"
    if not label.isprintable():
        return "not printable"
    if "#" in label:
        return "contains '#'"
    if label != label.strip():
        return "leading or trailing whitespace"
    if len(label.encode("utf-8", "surrogateescape")) > xpporder.MAX_LABEL_BYTES:
        return f"longer than {xpporder.MAX_LABEL_BYTES} bytes"
    return None


def connector_problem(connector: str) -> str | None:
    """Why ``connector`` cannot follow ``@`` in ``xpp_order``, or None when it can."""
    if not connector:
        return "empty"
    if not connector.isprintable() or any(c.isspace() for c in connector):
        return "not printable or contains whitespace"
    if "#" in connector:
        return "contains '#'"
    if len(connector.encode("utf-8", "surrogateescape")) > xpporder.MAX_CONNECTOR_BYTES:
        return f"longer than {xpporder.MAX_CONNECTOR_BYTES} bytes"
    return None


def entry_for(unit: OrderedUnit, *, label_shared: bool) -> xpporder.Entry:
    """How the unit is listed: by label when usable and unique, else by connector."""
    if label_problem(unit.label) is None and not label_shared:
        return xpporder.Entry(xpporder.LABEL, unit.label, 0)
    return xpporder.Entry(xpporder.CONNECTOR, unit.connector, 0)


def render(units: Sequence[OrderedUnit], *, header: str) -> str:
    """The file's text; ``units`` must be usable (checked by the caller)."""
    ordered = sorted(units, key=lambda u: u.first_span)
    counts = Counter(u.label for u in ordered)
    lines = [f"# {line}" if line else "#" for line in header.splitlines()]
    expected = []
    for unit in ordered:
        entry = entry_for(unit, label_shared=counts[unit.label] > 1)
        expected.append(entry)
        if entry.kind == xpporder.LABEL:
            lines.append(f"{unit.label}\t# @{unit.connector} {unit.xbus}")
        else:
            lines.append(f"@{unit.connector}\t# @{unit.connector} {unit.xbus}")
    text = "\n".join(lines) + "\n"
    parsed = xpporder.parse(text.encode("utf-8", "surrogateescape"), "generated xpp_order")
    if list(parsed.entries) != expected:  # pragma: no cover - guards the rules above
        raise TwinstarError("the generated xpp_order does not read back as written; nothing was written")
    return text


def write(path: str, text: str) -> str | None:
    """Back up the existing file to ``.bak`` and replace it atomically; the backup's path, if any."""
    backup = None
    try:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        if os.path.lexists(path):
            backup = path + ".bak"
            tmp_bak = f"{backup}.{os.getpid()}.tmp"
            shutil.copy2(path, tmp_bak, follow_symlinks=False)
            fsync_file(tmp_bak)
            os.replace(tmp_bak, backup)
        # The backup's rename is made durable with the file's (same directory).
        replace_file(path, text.encode("utf-8", "surrogateescape"), mode=0o644)
    except OSError as exc:
        raise TwinstarError(f"cannot write {path}: {exc.strerror or exc}", hint="the previous file is unchanged") from None
    return backup
