"""The step types: YAML key -> spec, how a plain value reads, step class.

``config/`` reads a ``takeover:`` entry by its type's spec (the spec's fields
declare the keys and their rules, :mod:`twinstar.schema`); the engine builds
the step from it. A new step type is one spec module, one step module and one
line here. The step classes are imported only when a step is built, so reading
the configuration does not import what the steps run.
"""

from __future__ import annotations

from twinstar.steps.asterisk_spec import AsteriskSpec
from twinstar.steps.command_spec import CommandSpec
from twinstar.steps.dahdi_spec import DahdiSpec
from twinstar.steps.drbd_spec import DrbdSpec
from twinstar.steps.ip_spec import IpSpec
from twinstar.steps.service_spec import ServiceSpec

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from twinstar.config import Config
    from twinstar.steps.base import Step, StepContext

    #: A step class: built from its spec and the context.
    StepClass = Callable[[Any, StepContext], Step]

StepSpec = DahdiSpec | DrbdSpec | IpSpec | ServiceSpec | CommandSpec | AsteriskSpec


def _dahdi() -> StepClass:
    from twinstar.steps.dahdi import DahdiStep

    return DahdiStep


def _drbd() -> StepClass:
    from twinstar.steps.drbd import DrbdStep

    return DrbdStep


def _ip() -> StepClass:
    from twinstar.steps.ip import IpStep

    return IpStep


def _service() -> StepClass:
    from twinstar.steps.service import ServiceStep

    return ServiceStep


def _command() -> StepClass:
    from twinstar.steps.command import CommandStep

    return CommandStep


def _asterisk() -> StepClass:
    from twinstar.steps.asterisk import AsteriskStep

    return AsteriskStep


class StepType:
    """One step type of the configuration (slotted, not a dataclass: see :class:`twinstar.schema.Rule`)."""

    __slots__ = ("key", "spec", "step_class", "shorthand")

    def __init__(
        self, key: str, spec: type[StepSpec], step_class: Callable[[], StepClass], *, shorthand: str | None = None
    ) -> None:
        #: The YAML key (``- drbd: {...}``), also the spec's ``kind``.
        self.key = key
        self.spec = spec
        #: The step class, imported when it is first needed.
        self.step_class = step_class
        #: The field a plain value fills (``- service: asterisk``), if any.
        self.shorthand = shorthand


STEP_TYPES: dict[str, StepType] = {
    t.key: t
    for t in (
        StepType("dahdi", DahdiSpec, _dahdi),
        StepType("drbd", DrbdSpec, _drbd),
        StepType("ip", IpSpec, _ip),
        StepType("service", ServiceSpec, _service, shorthand="service"),
        StepType("command", CommandSpec, _command),
        StepType("asterisk", AsteriskSpec, _asterisk),
    )
}


#: The ``takeover`` entry whose steps come up concurrently (``- parallel: [service: a, service: b]``): not a step type.
PARALLEL = "parallel"


def build_step(spec: StepSpec, ctx: StepContext) -> Step:
    """The step object for one configuration entry."""
    return STEP_TYPES[spec.kind].step_class()(spec, ctx)


def build_steps(config: Config, ctx: StepContext) -> list[Step]:
    """All takeover steps in configured order."""
    return [build_step(spec, ctx) for spec in config.takeover]
