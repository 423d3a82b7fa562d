"""What a check found about one subject, and how bad it is.

``twinstar check``, ``twinstar setup`` and ``twinstar replica check`` (and the
installation check inside ``twinstar check``) report alike: one line per
finding, and an exit status from the worst level found. Only the standard
library and :mod:`twinstar.errors` are imported: ``make install`` uses this
before the virtual environment exists.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from twinstar.errors import ExitStatus


class Level(StrEnum):
    """``fail``: a check failed (exit 1); ``error``: bad input or environment (exit 2)."""

    OK = "ok"
    WARNING = "warning"
    FAIL = "fail"
    ERROR = "error"


@dataclass(frozen=True)
class Finding:
    level: Level
    subject: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"level": self.level.value, "subject": self.subject, "message": self.message}

    def line(self) -> str:
        """The finding as one indented line of a command's report."""
        # A failed check is shouted so that it stands out among the ok lines.
        word = "FAIL" if self.level is Level.FAIL else self.level.value
        return f"  {word:<8} {self.subject}: {self.message}"


def exit_status(findings: Iterable[Finding]) -> ExitStatus:
    """2 when anything is an error, else 1 when a check failed, else 0 (warnings included)."""
    levels = {f.level for f in findings}
    if Level.ERROR in levels:
        return ExitStatus.BAD_INPUT
    if Level.FAIL in levels:
        return ExitStatus.FAILED
    return ExitStatus.OK
