"""The ``asterisk`` step's configuration: its keys and their rules (read by ``config/``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from twinstar.schema import DAY, Range, argv, seconds, text


def _module(value: str) -> str:
    """A module file name such as ``chan_dahdi.so``: it becomes a word of one CLI command, never more."""
    stem = value.removesuffix(".so")
    if not value.endswith(".so") or not stem or not all(c.isascii() and (c.isalnum() or c == "_") for c in stem):
        raise ValueError(f"invalid Asterisk module {value!r} (letters, digits and _, then .so, e.g. chan_dahdi.so)")
    return value


@dataclass(frozen=True)
class AsteriskSpec:
    """Wait for Asterisk to answer on its control socket, load or reload chan_dahdi, check its DAHDI channels."""

    #: The remote console's argv; ``-rx COMMAND`` is appended.
    asterisk: tuple[str, ...] = field(default=("asterisk",), metadata=argv(doc="the remote console's command; -rx COMMAND is appended"))
    module: str = field(default="chan_dahdi.so", metadata=text(convert=_module, doc="the channel driver module loaded, or reloaded when DAHDI came up after it"))
    #: How long Asterisk may take to answer after its start; also each command's bound.
    timeout: float = field(default=60.0, metadata=seconds(Range(0.1, DAY), doc="seconds Asterisk may take to answer after its start; also each command's bound"))

    kind = "asterisk"

    @property
    def name(self) -> str:
        return f"asterisk:{self.module}"
