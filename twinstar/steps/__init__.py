"""Takeover steps, one module per step type, and the factory that builds them."""

from __future__ import annotations

from twinstar.config import CommandSpec, Config, DahdiSpec, DrbdSpec, IpSpec, ServiceSpec, StepSpec
from twinstar.steps.base import Probe, Step, StepContext

__all__ = ["Probe", "Step", "StepContext", "build_step", "build_steps"]


def build_step(spec: StepSpec, ctx: StepContext) -> Step:
    """The step object for one configuration entry."""
    if isinstance(spec, CommandSpec):
        from twinstar.steps.command import CommandStep

        return CommandStep(spec, ctx)
    if isinstance(spec, DahdiSpec):
        from twinstar.steps.dahdi import DahdiStep

        return DahdiStep(spec, ctx)
    if isinstance(spec, DrbdSpec):
        from twinstar.steps.drbd import DrbdStep

        return DrbdStep(spec, ctx)
    if isinstance(spec, IpSpec):
        from twinstar.steps.ip import IpStep

        return IpStep(spec, ctx)
    if isinstance(spec, ServiceSpec):
        from twinstar.steps.service import ServiceStep

        return ServiceStep(spec, ctx)
    raise TypeError(f"unknown step spec {spec!r}")


def build_steps(config: Config, ctx: StepContext) -> list[Step]:
    """All takeover steps in configured order."""
    return [build_step(spec, ctx) for spec in config.takeover]
