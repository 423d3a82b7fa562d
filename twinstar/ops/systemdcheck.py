"""The systemd part of ``twinstar check``: twinstar's units, the takeover's services, who hands events off.

On a node where systemd runs (sd_booted: ``/run/systemd/system`` exists):

* the takeover and release units (and the re-arm template when watchdogs are
  re-armed) must be loaded and not masked: the hand-off starts them;
* the services of the takeover list that systemd manages must exist, not be
  masked, and not be enabled at boot: they start only on takeover (the vendor's
  TwinStar document says the same of Asterisk);
* one of the daemon (``twinstar.service`` enabled) and the udev hook
  (twinstar's udev rule in place) must hand the Astribank events off:
  with neither, nothing acts (an error); with both, every event is acted on
  twice (safe under the node lock, but twice the work: a warning);
* with such services, systemd should answer on the system bus: the service
  steps talk to it there, and run ``systemctl`` for each start and state
  read when it does not (slower: a warning).

:func:`assess` decides from what systemctl and the rule directories said;
:func:`check_systemd` asks them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from twinstar import settings
from twinstar.config import Config, ServiceManager, ServiceSpec
from twinstar.engine.proc import ProgramRunner
from twinstar.errors import ProgramError
from twinstar.ops.dahdihook import RULES_DIRS
from twinstar.ops.findings import Finding, Level
from twinstar.ops.installation import KIND_UDEV
from twinstar.ops.installcheck import EXPECTED
from twinstar.steps.service_spec import unit_name

DAEMON_UNIT = "twinstar.service"
#: twinstar's udev rule, as make install names it.
RULE = next(name for kind, _, name in EXPECTED if kind == KIND_UDEV)
#: The re-arm template is asked about through an instance (systemctl shows no template).
REARM_PROBE = settings.REARM_UNIT.format("000-000")
#: ``UnitFileState`` values meaning "started at boot".
ENABLED = frozenset({"enabled", "enabled-runtime", "alias"})
#: The rule's state as :func:`rule_state` reports it.
RULE_ACTIVE, RULE_MASKED, RULE_ABSENT = "active", "masked", "absent"


@dataclass(frozen=True)
class UnitState:
    """What ``systemctl show`` says of one unit (``name`` as asked)."""

    name: str
    load: str  # LoadState: loaded, not-found, masked, bad-setting, error
    file_state: str  # UnitFileState: enabled, disabled, static, masked, generated... or "" for none


def parse_show(names: Sequence[str], text: str) -> dict[str, UnitState]:
    """The blocks of ``systemctl show --property=LoadState,UnitFileState -- NAMES`` (blank-line separated, in
    the order asked: an alias such as ``mysql.service`` is shown under its target's Id), by name asked."""
    blocks = text.strip().split("\n\n") if text.strip() else []
    units: dict[str, UnitState] = {}
    for name, block in zip(names, blocks, strict=False):
        props = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        units[name] = UnitState(name, props.get("LoadState", ""), props.get("UnitFileState", ""))
    return units


def rule_state(name: str = RULE, dirs: Sequence[str] = RULES_DIRS) -> str:
    """Whether udev runs the rule ``name``: the first directory holding it decides (a link to /dev/null masks it)."""
    for directory in dirs:
        path = os.path.join(directory, name)
        if os.path.lexists(path):
            return RULE_MASKED if os.path.realpath(path) == os.devnull else RULE_ACTIVE
    return RULE_ABSENT


def systemd_services(config: Config) -> list[str]:
    """The takeover's services that systemd manages here (``manager: systemd``, or ``auto`` under systemd)."""
    return [
        unit_name(s.service)
        for s in config.takeover
        if isinstance(s, ServiceSpec) and s.manager in (ServiceManager.SYSTEMD, ServiceManager.AUTO)
    ]


def _loadable(unit: UnitState | None, name: str, why: str) -> Finding:
    if unit is None or unit.load == "not-found":
        return Finding(Level.ERROR, f"unit {name}", f"not installed ({why}); run make install, then systemctl daemon-reload")
    if unit.load == "masked" or unit.file_state.startswith("masked"):
        return Finding(Level.ERROR, f"unit {name}", f"masked: {why} cannot work (systemctl unmask {name})")
    if unit.load != "loaded":
        return Finding(Level.ERROR, f"unit {name}", f"not loaded ({unit.load}): see systemctl status {name}")
    return Finding(Level.OK, f"unit {name}", f"loaded ({unit.file_state or 'no unit file state'})")


def assess(units: Mapping[str, UnitState], *, services: Iterable[str], rearm: bool, rule: str, bus_problem: str | None = None) -> list[Finding]:
    """The findings for what systemctl said of ``units``, the udev rule's state ``rule`` and, for the
    services, why systemd could not be asked over the system bus (None: it answered)."""
    services = list(services)
    findings = [
        _loadable(units.get(settings.TAKEOVER_UNIT), settings.TAKEOVER_UNIT, "the takeover hand-off"),
        _loadable(units.get(settings.RELEASE_UNIT), settings.RELEASE_UNIT, "the release hand-off"),
        _loadable(units.get(settings.PREPARED_UNIT), settings.PREPARED_UNIT, "the takeover prepared ahead"),
        _loadable(units.get(settings.POLICY_UNIT), settings.POLICY_UNIT, "the pair policy's hand-off"),
    ]
    if rearm:
        template = settings.REARM_UNIT.format("")
        findings.append(_loadable(units.get(REARM_PROBE), template, "the watchdog re-arm hand-off"))
    for name in services:
        unit = units.get(name)
        found = _loadable(unit, name, "the takeover's service step")
        if found.level is not Level.OK or unit is None:
            findings.append(Finding(found.level, f"service {name}", found.message))
        elif unit.file_state in ENABLED:
            findings.append(
                Finding(Level.ERROR, f"service {name}", f"enabled at boot ({unit.file_state}): it must start only on takeover (systemctl disable {name})")
            )
        else:
            findings.append(Finding(Level.OK, f"service {name}", f"not started at boot ({unit.file_state or 'no unit file state'})"))
    daemon = units.get(DAEMON_UNIT)
    daemon_on = daemon is not None and daemon.load == "loaded" and daemon.file_state in ENABLED
    rule_on = rule == RULE_ACTIVE
    if daemon_on and rule_on:
        findings.append(
            Finding(
                Level.WARNING,
                "hand-off",
                f"both {DAEMON_UNIT} (enabled) and the udev rule {RULE} act on every event: "
                f"systemctl disable --now {DAEMON_UNIT}, or mask the rule (ln -s /dev/null /etc/udev/rules.d/{RULE})",
            )
        )
    elif not daemon_on and not rule_on:
        findings.append(
            Finding(
                Level.ERROR,
                "hand-off",
                f"nothing acts on Astribank events: {DAEMON_UNIT} is not enabled and the udev rule {RULE} is {rule}",
            )
        )
    else:
        findings.append(Finding(Level.OK, "hand-off", f"{DAEMON_UNIT} (enabled)" if daemon_on else f"the udev rule {RULE}"))
    if services and bus_problem is not None:
        findings.append(
            Finding(
                Level.WARNING,
                "systemd bus",
                f"{bus_problem}: the service steps run systemctl instead, a process for each start and state read "
                "(20 to 30 ms more per service in a failover); start the D-Bus daemon (systemctl start dbus.socket dbus.service)",
            )
        )
    elif services:
        findings.append(Finding(Level.OK, "systemd bus", "the service steps ask systemd over the system bus"))
    return findings


def bus_problem(timeout: float = 2.0) -> str | None:
    """Why systemd cannot be asked over the system bus (a unit's state read there), or None when it answers."""
    from twinstar.steps.systemd_bus import BusError, SystemdBus

    try:
        with SystemdBus.connect(timeout) as bus:
            bus.active_state(DAEMON_UNIT, timeout)
    except BusError as exc:
        return str(exc)
    except TimeoutError:
        return f"systemd did not answer on the system bus within {timeout:g} s"
    return None


def check_systemd(
    config: Config,
    *,
    runtime_dir: str = settings.SYSTEMD_RUNTIME_DIR,
    rule_dirs: Sequence[str] = RULES_DIRS,
    bus: Callable[[], str | None] = bus_problem,
) -> Iterable[Finding]:
    """:func:`assess` for this host, or one ok finding where systemd does not run."""
    if not os.path.isdir(runtime_dir):
        yield Finding(Level.OK, "systemd", f"not running ({runtime_dir} is missing): unit checks skipped")
        return
    services = systemd_services(config)
    rearm = config.astribanks.rearm_watchdog
    names = list(dict.fromkeys([DAEMON_UNIT, settings.TAKEOVER_UNIT, settings.RELEASE_UNIT, settings.PREPARED_UNIT, settings.POLICY_UNIT, *([REARM_PROBE] if rearm else []), *services]))
    argv = ["systemctl", "show", "--property=LoadState,UnitFileState", "--", *names]
    try:
        result = ProgramRunner(programs=config.program_map).run(argv, timeout=30, quiet=True)
    except ProgramError as exc:
        yield Finding(Level.ERROR, "systemd", f"cannot read the units' state: {exc}")
        return
    yield from assess(
        parse_show(names, result.stdout), services=services, rearm=rearm, rule=rule_state(RULE, rule_dirs), bus_problem=bus() if services else None
    )
