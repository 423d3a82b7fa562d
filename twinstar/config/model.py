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
    argvs,
    choice,
    custom,
    flag,
    number,
    path,
    seconds,
    section,
    text,
)
from twinstar.steps.ip_spec import IpSpec
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
    """Where the Astribank units are seen (the xpp driver's sysfs) and which ones this node needs."""

    sysfs: str = field(default=settings.SYSFS_ROOT, metadata=path(doc="the sysfs root the xpp driver's units are read from"))
    xpp_order: str = field(default=settings.XPP_ORDER, metadata=path(doc="the units this node needs, in DAHDI registration order"))
    rearm_watchdog: bool = field(default=True, metadata=flag(doc="enable a listed unit's TwinStar watchdog when it comes online"))


@dataclass(frozen=True)
class UsbConfig:
    """Simulated Astribank units instead of real USB (development and the demo)."""

    simulator: str | None = field(default=None, metadata=path(nullable=True, doc="a simulated-Astribank state file used instead of real USB"))
    simulator_port: int = field(default=0, metadata=number(Range(0, 1, integer=True), doc="the simulated units' port this host is cabled to"))


@dataclass(frozen=True)
class DaemonConfig:
    """Settings of ``twinstar daemon``."""

    evaluate_interval: float = field(default=30.0, metadata=seconds(Range(MIN_INTERVAL, DAY), doc="seconds between re-reading sysfs and deciding again"))
    check_interval: float = field(default=10.0, metadata=seconds(Range(MIN_INTERVAL, DAY, zero_is_off=True), doc="while active, seconds between checks of every step"))
    arp_refresh_interval: float = field(default=0.0, metadata=seconds(Range(MIN_INTERVAL, DAY, zero_is_off=True), doc="while active, seconds between announcements of the shared address"))
    on_step_down: OnStepDown = field(default=OnStepDown.LOG, metadata=choice(OnStepDown, doc="what to do with a step found down while active: log it, or apply and verify it again"))
    release_on_stop: bool = field(default=False, metadata=flag(doc="release when the daemon stops (restarting it then drops calls)"))


@dataclass(frozen=True)
class SwitchoverConfig:
    """Settings of ``twinstar switchover``."""

    drain_check: tuple[str, ...] | None = field(default=None, metadata=argv(nullable=True, doc="a command reporting the number of active calls; the hand-over waits until it reports 0"))
    #: The words labelling the count's line in the drain check's output (None: the output is one number).
    drain_count_line: str | None = field(default=None, metadata=text(convert=_one_line, nullable=True, doc="the words of the line of the drain check's output that holds the count (null: the output is one number)"))
    drain_timeout: float = field(default=300.0, metadata=seconds(Range(0, DAY), doc="seconds to wait for the calls to end; calls left after it refuse the hand-over"))
    drain_poll: float = field(default=2.0, metadata=seconds(Range(MIN_INTERVAL, 3600), doc="seconds between drain checks"))
    leave_timeout: float = field(default=15.0, metadata=seconds(Range(0, 3600), doc="seconds to wait for a unit to leave this host after a jump"))


@dataclass(frozen=True)
class JournalConfig:
    """How large ``journal.jsonl`` grows before it is rotated, and how many rotated files are kept."""

    max_mib: int = field(default=settings.JOURNAL_MAX_MIB, metadata=number(Range(1, 1024, integer=True), doc="MiB journal.jsonl may reach before it is rotated"))
    keep: int = field(default=settings.JOURNAL_KEEP, metadata=number(Range(1, 100, integer=True), doc="how many rotated journal files are kept"))


@dataclass(frozen=True)
class PolicyConfig:
    """What a node does when its takeover fails, units split, or both servers boot (docs/operations.md)."""

    #: Takeover tries after the first one failed, before the units are handed back.
    retries: int = field(default=3, metadata=number(Range(0, 10, integer=True), doc="takeover tries after the first one failed, before the units are handed back"))
    #: Delay before the first retry, doubled for each further one.
    retry_delay: float = field(default=5.0, metadata=seconds(Range(MIN_INTERVAL, 3600), doc="seconds before the first retry, doubled for each further one"))
    #: Delay between the slow retries of a node that stays without serving.
    slow_retry: float = field(default=300.0, metadata=seconds(Range(MIN_INTERVAL, DAY), doc="seconds between the slow retries of a node that stays without serving"))
    #: Units that come back within this time after this node handed them back are kept (no ping-pong).
    hand_back_window: float = field(default=600.0, metadata=seconds(Range(0, DAY), doc="units that come back within this time after a hand-back are kept (no ping-pong)"))
    #: How long a standby holding some but not all units waits for the rest before sending them back.
    split_grace: float = field(default=5.0, metadata=seconds(Range(0, 3600), doc="seconds a standby holding some but not all units waits for the rest before sending them back"))
    #: Commands run for every transition, hand-back and alarm, with the event as JSON on stdin.
    notify: tuple[tuple[str, ...], ...] = field(default=(), metadata=argvs(doc="commands run for every transition, hand-back and alarm, with the event as JSON on stdin"))
    notify_timeout: float = field(default=10.0, metadata=seconds(Range(0.1, 600), doc="seconds each notify command may run"))


@dataclass(frozen=True)
class Config:
    """A validated twinstar configuration."""

    #: The file it was read from (not a key).
    source: str
    node: str = field(metadata=text(missing=_hostname, doc="the name used in logs and state.json"))
    state_dir: str = field(default=settings.STATE_DIR, metadata=path(doc="the lock, state.json and journal.jsonl"))
    maintenance_file: str = field(default=settings.MAINTENANCE_FILE, metadata=path(doc="while it exists: no automatic takeover, release or watchdog re-arm"))
    handoff: Handoff = field(default=Handoff.AUTO, metadata=choice(Handoff, doc="how the hook hands a takeover or release off out of udev; auto: systemd when it runs, else spawn"))
    lock_timeout: float = field(default=600.0, metadata=seconds(Range(0, DAY), doc="seconds a second takeover or release waits for the running one"))
    astribanks: AstribanksConfig = field(default_factory=AstribanksConfig, metadata=section(AstribanksConfig, doc="the Astribank units"))
    usb: UsbConfig = field(default_factory=UsbConfig, metadata=section(UsbConfig, doc="simulated units instead of USB"))
    programs: tuple[tuple[str, str], ...] = field(default=(), metadata=custom(Kind.PROGRAMS, doc="absolute paths of programs, where they are not on the fixed PATH"))
    takeover: tuple[StepSpec, ...] = field(default=(), metadata=custom(Kind.STEPS, required=True, doc="the takeover's steps, in order; a release runs them in reverse; - parallel: [STEP, STEP, ...] brings its steps up concurrently"))
    #: Commands run after a takeover that brought a step up (off its critical path, journaled).
    on_ready: tuple[tuple[str, ...], ...] = field(default=(), metadata=argvs(doc="commands run after a takeover that brought a step up, off its critical path"))
    on_ready_timeout: float = field(default=30.0, metadata=seconds(Range(0.1, 3600), doc="seconds each on_ready command may run"))
    daemon: DaemonConfig = field(default_factory=DaemonConfig, metadata=section(DaemonConfig, doc="settings of twinstar daemon"))
    switchover: SwitchoverConfig = field(default_factory=SwitchoverConfig, metadata=section(SwitchoverConfig, doc="settings of twinstar switchover"))
    journal: JournalConfig = field(default_factory=JournalConfig, metadata=section(JournalConfig, doc="the size cap of journal.jsonl and how many rotated files are kept"))
    policy: PolicyConfig = field(default_factory=PolicyConfig, metadata=section(PolicyConfig, doc="what a node does when its takeover fails, units split, or both servers boot"))
    #: The concurrent groups of ``takeover`` (``- parallel: [...]``), each its members' step names in listed order (not a key).
    groups: tuple[tuple[str, ...], ...] = ()

    def __post_init__(self) -> None:
        names = [spec.name for spec in self.takeover]
        for group in self.groups:
            if type(group) is not tuple or len(group) < 2 or any(n not in names for n in group):
                raise ValueError(f"parallel group {group!r}: needs at least 2 of the takeover's steps")
            first = names.index(group[0])
            if tuple(names[first : first + len(group)]) != group:
                raise ValueError(f"parallel group {group!r}: its steps must be listed together in takeover")

    @property
    def ip_probes(self) -> tuple[tuple[str, str, str, float, float], ...]:
        """The ip steps as the prepared takeover runner starts their duplicate-address probes
        (:data:`twinstar.steps.ip_dad.Cached`): the hook's settings cache keeps them."""
        return tuple(
            (s.name, s.interface, s.address.with_prefixlen, s.dad_timeout, s.timeout) for s in self.takeover if isinstance(s, IpSpec)
        )

    @property
    def program_map(self) -> dict[str, str]:
        return dict(self.programs)
