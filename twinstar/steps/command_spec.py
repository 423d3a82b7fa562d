"""The ``command`` step's configuration: its keys and their rules (read by ``config/``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from twinstar.schema import DAY, Range, argv, seconds, text


def _command_name(name: str) -> str:
    if not all(c.isalnum() or c in "_-." for c in name):
        raise ValueError(f"invalid command step name {name!r} (letters, digits, _ - .)")
    return name


@dataclass(frozen=True)
class CommandSpec:
    """An operator-provided start/stop/check command triple."""

    command: str = field(metadata=text(key="name", convert=_command_name, doc="the step's name in logs, the journal and its marker file"))
    start: tuple[str, ...] = field(metadata=argv(doc="the command that brings the resource up"))
    stop: tuple[str, ...] = field(metadata=argv(doc="the command that takes it down"))
    check: tuple[str, ...] | None = field(default=None, metadata=argv(nullable=True, doc="exit 0 means up; without it, twinstar remembers what it started"))
    timeout: float = field(default=10.0, metadata=seconds(Range(0.01, DAY), doc="seconds each command may run"))

    kind = "command"

    @property
    def name(self) -> str:
        return f"command:{self.command}"
