"""The ``service`` step's configuration: its keys and their rules (read by ``config/``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from twinstar.schema import DAY, Range, choice, seconds, text

#: What systemctl appends to a name without a unit type (systemd.unit(5)).
UNIT_TYPES = (".service", ".socket", ".target", ".device", ".mount", ".automount", ".swap", ".timer", ".path", ".slice", ".scope")


def unit_name(service: str) -> str:
    """The unit systemd knows ``service`` by, as systemctl takes it (pure): a name without a unit type is a
    ``.service`` (``apache2`` is ``apache2.service``, ``asterisk.old`` is ``asterisk.old.service``)."""
    return service if service.endswith(UNIT_TYPES) else f"{service}.service"


class ServiceManager(StrEnum):
    """Which service manager the service step drives."""

    AUTO = "auto"
    SYSTEMD = "systemd"
    SYSV = "sysv"


def _service_name(name: str) -> str:
    """A unit or init-script name: ASCII letters, digits and ``_-.@:`` (systemd's unit names are ASCII), not an option."""
    if name.startswith("-") or not all(c.isascii() and (c.isalnum() or c in "_-.@:") for c in name):
        raise ValueError(f"invalid service name {name!r}")
    return name


@dataclass(frozen=True)
class ServiceSpec:
    """Start a system service and wait until it reports active."""

    service: str = field(metadata=text(key="name", convert=_service_name, doc="the service (a systemd unit or an init script)"))
    manager: ServiceManager = field(default=ServiceManager.AUTO, metadata=choice(ServiceManager, doc="auto: systemd when it runs, else the init script through service"))
    timeout: float = field(default=60.0, metadata=seconds(Range(0.1, DAY), doc="seconds for the start or stop and the wait for it"))

    kind = "service"

    @property
    def name(self) -> str:
        return f"service:{self.service}"
