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

    command: str = field(metadata=text(key="name", convert=_command_name))
    start: tuple[str, ...] = field(metadata=argv())
    stop: tuple[str, ...] = field(metadata=argv())
    check: tuple[str, ...] | None = field(default=None, metadata=argv(nullable=True))
    timeout: float = field(default=10.0, metadata=seconds(Range(0.01, DAY)))

    kind = "command"

    @property
    def name(self) -> str:
        return f"command:{self.command}"
