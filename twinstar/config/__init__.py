"""Load and validate ``twinstar.yaml`` into frozen, typed objects.

``model`` holds :class:`Config` and its sections, ``reader`` reads YAML nodes
by the fields' rules (every problem with file:line and key path), ``load``
finds, reads and parses the file. The takeover steps' specs live with the
steps (:mod:`twinstar.steps.registry`); the rules of the values in
:mod:`twinstar.schema`. This module names what the rest of twinstar uses.
"""

from __future__ import annotations

from twinstar.config.load import load, parse
from twinstar.config.model import (
    AstribanksConfig,
    Config,
    DaemonConfig,
    Handoff,
    JournalConfig,
    OnStepDown,
    PolicyConfig,
    SwitchoverConfig,
    UsbConfig,
)
from twinstar.schema import DAY, MIN_INTERVAL, Range, check_number, numbers
from twinstar.steps.asterisk_spec import AsteriskSpec
from twinstar.steps.command_spec import CommandSpec
from twinstar.steps.dahdi_spec import DahdiSpec
from twinstar.steps.drbd_spec import DrbdSpec, FsckMode
from twinstar.steps.ip_spec import IpSpec
from twinstar.steps.registry import STEP_TYPES, StepSpec
from twinstar.steps.service_spec import ServiceManager, ServiceSpec

#: Every number of the configuration, once: a step's keys as ``STEP.key``. The
#: The range table of docs/configuration.md lists the same ranges; the command line uses them too.
NUMBERS: dict[str, Range] = numbers(Config)
for _kind, _type in STEP_TYPES.items():
    NUMBERS.update(numbers(_type.spec, f"{_kind}."))

__all__ = [
    "DAY",
    "MIN_INTERVAL",
    "NUMBERS",
    "AsteriskSpec",
    "AstribanksConfig",
    "CommandSpec",
    "Config",
    "DaemonConfig",
    "DahdiSpec",
    "DrbdSpec",
    "FsckMode",
    "Handoff",
    "IpSpec",
    "JournalConfig",
    "OnStepDown",
    "PolicyConfig",
    "Range",
    "ServiceManager",
    "ServiceSpec",
    "StepSpec",
    "SwitchoverConfig",
    "UsbConfig",
    "check_number",
    "load",
    "parse",
]
