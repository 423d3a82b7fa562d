"""The validated configuration: ``Config`` and its sections, frozen and typed.

Each field's rule (range, path, choice...) is in its metadata
(:mod:`twinstar.schema`); the takeover steps' specs live with the steps
(:mod:`twinstar.steps.registry`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from twinstar import settings, words
from twinstar.schema import (
    DAY,
    MIN_INTERVAL,
    Kind,
    Range,
    argv,
    choice,
    commands,
    custom,
    flag,
    number,
    path,
    seconds,
    section,
    text,
)
from twinstar.steps.registry import StepSpec


class Handoff(StrEnum):
    """How the hook hands a takeover or release off out of udev."""

    AUTO = words.AUTO
    SYSTEMD = words.SYSTEMD
    SPAWN = words.SPAWN
    INLINE = words.INLINE


class OnStepDown(StrEnum):
    """What the daemon does when a periodic check finds an active step down."""

    LOG = "log"
    RESTART = "restart"


def _hostname() -> str:
    import socket  # only when the key is absent

    return socket.gethostname()


def _one_line(value: str) -> str:
    return " ".join(value.split())


@dataclass(frozen=True)
class AstribanksConfig:
    sysfs: str = field(default=settings.SYSFS_ROOT, metadata=path())
    xpp_order: str = field(default=settings.XPP_ORDER, metadata=path())
    rearm_watchdog: bool = field(default=True, metadata=flag())


@dataclass(frozen=True)
class UsbConfig:
    simulator: str | None = field(default=None, metadata=path(nullable=True))
    simulator_port: int = field(default=0, metadata=number(Range(0, 1, integer=True)))


@dataclass(frozen=True)
class DaemonConfig:
    """Settings of ``twinstar daemon``."""

    evaluate_interval: float = field(default=30.0, metadata=seconds(Range(MIN_INTERVAL, DAY)))
    check_interval: float = field(default=10.0, metadata=seconds(Range(MIN_INTERVAL, DAY, zero_is_off=True)))
    arp_refresh_interval: float = field(default=0.0, metadata=seconds(Range(MIN_INTERVAL, DAY, zero_is_off=True)))
    on_step_down: OnStepDown = field(default=OnStepDown.LOG, metadata=choice(OnStepDown))
    release_on_stop: bool = field(default=False, metadata=flag())


@dataclass(frozen=True)
class SwitchoverConfig:
    """Settings of ``twinstar switchover``."""

    drain_check: tuple[str, ...] | None = field(default=None, metadata=argv(nullable=True))
    #: The words labelling the count's line in the drain check's output (None: the output is one number).
    drain_count_line: str | None = field(default=None, metadata=text(convert=_one_line, nullable=True))
    drain_timeout: float = field(default=300.0, metadata=seconds(Range(0, DAY)))
    drain_poll: float = field(default=2.0, metadata=seconds(Range(MIN_INTERVAL, 3600)))
    leave_timeout: float = field(default=15.0, metadata=seconds(Range(0, 3600)))


@dataclass(frozen=True)
class PolicyConfig:
    """What a node does when its takeover fails, units split, or both servers boot (docs/operations.md)."""

    #: Takeover tries after the first one failed, before the units are handed back.
    retries: int = field(default=3, metadata=number(Range(0, 10, integer=True)))
    #: Delay before the first retry, doubled for each further one.
    retry_delay: float = field(default=5.0, metadata=seconds(Range(MIN_INTERVAL, 3600)))
    #: Delay between the slow retries of a node that stays without serving.
    slow_retry: float = field(default=300.0, metadata=seconds(Range(MIN_INTERVAL, DAY)))
    #: Units that come back within this time after this node handed them back are kept (no ping-pong).
    hand_back_window: float = field(default=600.0, metadata=seconds(Range(0, DAY)))
    #: How long a standby holding some but not all units waits for the rest before sending them back.
    split_grace: float = field(default=5.0, metadata=seconds(Range(0, 3600)))
    #: Commands run for every transition, hand-back and alarm, with the event as JSON on stdin.
    notify: tuple[tuple[str, ...], ...] = field(default=(), metadata=commands())
    notify_timeout: float = field(default=10.0, metadata=seconds(Range(0.1, 600)))


@dataclass(frozen=True)
class Config:
    """A validated twinstar configuration."""

    #: The file it was read from (not a key).
    source: str
    node: str = field(metadata=text(missing=_hostname))
    state_dir: str = field(default=settings.STATE_DIR, metadata=path())
    maintenance_file: str = field(default=settings.MAINTENANCE_FILE, metadata=path())
    handoff: Handoff = field(default=Handoff.AUTO, metadata=choice(Handoff))
    lock_timeout: float = field(default=600.0, metadata=seconds(Range(0, DAY)))
    astribanks: AstribanksConfig = field(default_factory=AstribanksConfig, metadata=section(AstribanksConfig))
    usb: UsbConfig = field(default_factory=UsbConfig, metadata=section(UsbConfig))
    programs: tuple[tuple[str, str], ...] = field(default=(), metadata=custom(Kind.PROGRAMS))
    takeover: tuple[StepSpec, ...] = field(default=(), metadata=custom(Kind.STEPS, required=True))
    daemon: DaemonConfig = field(default_factory=DaemonConfig, metadata=section(DaemonConfig))
    switchover: SwitchoverConfig = field(default_factory=SwitchoverConfig, metadata=section(SwitchoverConfig))
    policy: PolicyConfig = field(default_factory=PolicyConfig, metadata=section(PolicyConfig))

    @property
    def program_map(self) -> dict[str, str]:
        return dict(self.programs)
