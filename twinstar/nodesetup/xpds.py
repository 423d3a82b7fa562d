"""Read the XPDs of an xbus: the ``NN:U:S`` children and their DAHDI ``span`` numbers.

``span`` is 0 while the XPD is not registered with DAHDI. A child whose
name or ``span`` is malformed is reported as a problem (bad sysfs contents),
never guessed at.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from twinstar.astribank.printable import shown


@dataclass(frozen=True)
class Xpd:
    name: str  # "00:1:0"
    span: int  # 0 = not registered with DAHDI


@dataclass(frozen=True)
class XpdReading:
    xpds: tuple[Xpd, ...]
    problems: tuple[str, ...]

    @property
    def spans(self) -> list[int]:
        return sorted(x.span for x in self.xpds)

    @property
    def first_span(self) -> int | None:
        registered = [x.span for x in self.xpds if x.span]
        return min(registered) if registered else None


def _is_xpd_name(name: str) -> bool:
    parts = name.split(":")
    return len(parts) == 3 and all(p.isdigit() and p.isascii() and len(p) <= 3 for p in parts)


def read_xpds(node: str) -> XpdReading:
    """The XPDs under the xbus directory ``node`` (sorted by name)."""
    try:
        names = sorted(os.listdir(node))
    except OSError as exc:
        return XpdReading((), (f"{node}: cannot list XPDs: {exc.strerror}",))
    xpds: list[Xpd] = []
    problems: list[str] = []
    for name in names:
        if ":" not in name:
            continue
        path = os.path.join(node, name)
        if not _is_xpd_name(name):
            problems.append(f"{path}: unexpected XPD name {shown(name)}")
            continue
        try:
            with open(os.path.join(path, "span"), "rb") as f:
                raw = f.read(64)
        except OSError as exc:
            problems.append(f"{path}/span: cannot read: {exc.strerror}")
            continue
        text = raw.decode("ascii", "replace").removesuffix("\n")
        if not (text.isdigit() and text.isascii() and len(text) <= 5):
            problems.append(f"{path}/span: expected a number, found {shown(text)}")
            continue
        xpds.append(Xpd(name, int(text)))
    return XpdReading(tuple(xpds), tuple(problems))
