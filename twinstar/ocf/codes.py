"""The OCF exit codes (resource-agents' ``ocf-returncodes``) and what an action concluded."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class OcfStatus(IntEnum):
    """Exit codes of an OCF resource agent."""

    SUCCESS = 0
    ERR_GENERIC = 1
    ERR_ARGS = 2
    ERR_UNIMPLEMENTED = 3
    ERR_PERM = 4
    ERR_INSTALLED = 5
    ERR_CONFIGURED = 6
    NOT_RUNNING = 7


@dataclass(frozen=True)
class Verdict:
    """An action's exit code and the one line that says why."""

    status: OcfStatus
    reason: str
