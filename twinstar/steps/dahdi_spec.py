"""The ``dahdi`` step's configuration: its keys and their rules (read by ``config/``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from twinstar.schema import DAY, Range, argv, flag, seconds


@dataclass(frozen=True)
class DahdiSpec:
    """Register the Astribanks with DAHDI in ``xpp_order`` order, assign their spans, run dahdi_cfg, verify the spans."""

    timeout: float = field(default=60.0, metadata=seconds(Range(0.1, DAY), doc="seconds for the registration and dahdi_cfg"))
    dahdi_cfg: tuple[str, ...] = field(default=("dahdi_cfg",), metadata=argv(doc="the command run after the units are registered"))
    #: null: spans are assigned through each DAHDI device's ``assign_span``; else this argv
    #: (``[dahdi_span_assignments, add]``) is run with the device's sysfs path appended.
    span_assignments: tuple[str, ...] | None = field(default=None, metadata=argv(nullable=True, doc="null: spans are assigned through each DAHDI device's assign_span; else this command, with the device's sysfs path appended"))
    #: The gate: a takeover waits up to ``alarm_timeout`` for the spans to leave red, blue and LOS alarms.
    alarm_gate: bool = field(default=False, metadata=flag(doc="wait up to alarm_timeout for the spans to leave red, blue and LOS alarms"))
    alarm_timeout: float = field(default=30.0, metadata=seconds(Range(0, 3600), doc="seconds the alarm gate waits"))

    kind = "dahdi"

    @property
    def name(self) -> str:
        return "dahdi"
