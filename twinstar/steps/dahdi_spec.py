"""The ``dahdi`` step's configuration: its keys and their rules (read by ``config/``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from twinstar.schema import DAY, Range, argv, seconds


@dataclass(frozen=True)
class DahdiSpec:
    """Register the Astribanks with DAHDI in ``xpp_order`` order, then run dahdi_cfg."""

    timeout: float = field(default=60.0, metadata=seconds(Range(0.1, DAY), doc="seconds for the registration and dahdi_cfg"))
    dahdi_cfg: tuple[str, ...] = field(default=("dahdi_cfg",), metadata=argv(doc="the command run after the units are registered"))

    kind = "dahdi"

    @property
    def name(self) -> str:
        return "dahdi"
