"""Hardware commands: ``status`` (its report: :mod:`twinstar.cli.status`), ``ports``, ``jump``, ``enable-wd``, ``disable-wd``, and ``sim``.

Each works on every unit this host sees, or on the units named with
``--device`` (``usb:BBB/DDD`` or a label), and needs no configuration file
(without one: real USB, defaults). A failing unit does not stop the others;
every unit's result is printed (failures on stderr) and the exit status is 1
if any failed, 3 if any was refused by a safety guard, 0 otherwise. ``--json``
prints one object instead: ``{"command", "exit_status", "units": [...]}``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import click

from twinstar.cli.app import Obj, SuggestingGroup, main, option
from twinstar.cli.context import usb_config
from twinstar.cli.options import DEVICE, JSON, LONG
from twinstar.errors import ExitStatus, TwinstarError

if TYPE_CHECKING:
    from twinstar.usb.units import Astribanks, UnitOutcome


def _hardware(obj: Obj) -> Astribanks:
    from twinstar.usb.units import Astribanks

    return Astribanks.from_config(usb_config(obj))


class UnitsFailed(TwinstarError):
    """Some units failed or were refused; the per-unit messages were printed already."""

    def __init__(self, message: str, exit_status: ExitStatus) -> None:
        super().__init__(message)
        self.exit_status = exit_status


def _report(command: str, outcomes: Sequence[UnitOutcome], *, as_json: bool = False, bare: bool = False) -> None:
    """Print each unit's outcome and raise the aggregate status if it is not success.

    ``bare``: a done unit's line is its message alone (the original's output of
    ``ports``), and a skipped unit's note goes to stderr.
    """
    from twinstar.usb.transport import NO_UNIT
    from twinstar.usb.units import UnitResult, overall_status

    status = overall_status(outcomes)
    if as_json:
        units = [{**o.to_json(), **_extra(command, o)} for o in outcomes]
        click.echo(json.dumps({"command": command, "exit_status": int(status), "units": units}, sort_keys=True))
        if status != ExitStatus.OK:
            raise SystemExit(int(status))
        return
    for o in outcomes:
        if o.result is UnitResult.DONE:
            click.echo(o.message if bare else f"{o.unit}: {o.message}")
        elif o.result is UnitResult.SKIPPED:
            click.echo(f"{o.unit}: skipped: {o.message}", err=bare)
        else:
            click.echo(f"twinstar: error: {o.message}", err=True)
    if status == ExitStatus.OK:
        return
    bad = [o for o in outcomes if o.result in (UnitResult.FAILED, UnitResult.REFUSED)]
    if not bad:
        raise UnitsFailed(NO_UNIT, ExitStatus.FAILED)
    what = "refused" if status == ExitStatus.REFUSED else "failed"
    raise UnitsFailed(f"{command} {what} on {len(bad)} of {len(outcomes)} units", status)


def _extra(command: str, o: UnitOutcome) -> dict[str, Any]:
    """What ``--json`` adds to a unit's outcome: the port ``ports`` read."""
    from twinstar.usb.units import UnitResult

    if command != "ports":
        return {}
    return {"port": int(o.message) if o.result is UnitResult.DONE else None}


device_option = option(DEVICE)
json_option = option(JSON)
long_option = option(LONG)


@main.command("status")
@device_option
@long_option
@json_option
@click.pass_obj
def status_command(obj: Obj, devices: tuple[str, ...], long: bool, as_json: bool) -> None:
    """Show the Astribanks on this host as the original twinstar did (with -v: the node too).

    Columns: DEVICE (usb:BBB/DDD), PORT (active port), WATCHDOG (on/off),
    POWER0 and POWER1 (yes when that port has power from a live host). With
    -v/--long: a LABEL column and a NOTE for each unit, readiness against
    xpp_order, this node's role and last transition, and the daemon.
    """
    from twinstar.cli.status import show

    show(obj, devices, long, as_json)


@main.command("ports")
@device_option
@long_option
@json_option
@click.pass_obj
def ports_command(obj: Obj, devices: tuple[str, ...], long: bool, as_json: bool) -> None:
    """Print the active port of each unit, one per line (with -v: usb:BBB/DDD (label): PORT)."""
    from twinstar.usb.units import read_port, run_each

    hw = _hardware(obj)
    units = hw.units(devices)
    outcomes = run_each(hw, units, read_port, explicit=bool(devices))
    _report("ports", outcomes, as_json=as_json, bare=not long)


@main.command("jump")
@device_option
@json_option
@click.pass_obj
def jump_command(obj: Obj, devices: tuple[str, ...], as_json: bool) -> None:
    """Switch units to their other port; refused when that port has no power."""
    from twinstar.usb.units import DEFAULT_LEAVE_TIMEOUT, jump, run_each

    config = usb_config(obj)
    hw = _hardware(obj)
    leave_timeout = config.switchover.leave_timeout if config is not None else DEFAULT_LEAVE_TIMEOUT
    units = hw.units(devices)
    action, after = jump(hw, leave_timeout=leave_timeout)
    _report("jump", run_each(hw, units, action, explicit=bool(devices), after=after), as_json=as_json)


def _watchdog(obj: Obj, devices: tuple[str, ...], on: bool, as_json: bool) -> None:
    from twinstar.usb.units import run_each, set_watchdog

    hw = _hardware(obj)
    units = hw.units(devices)
    command = "enable-wd" if on else "disable-wd"
    _report(command, run_each(hw, units, set_watchdog(on), explicit=bool(devices)), as_json=as_json)


@main.command("enable-wd")
@device_option
@json_option
@click.pass_obj
def enable_wd_command(obj: Obj, devices: tuple[str, ...], as_json: bool) -> None:
    """Turn the TwinStar watchdog on."""
    _watchdog(obj, devices, True, as_json)


@main.command("disable-wd")
@device_option
@json_option
@click.pass_obj
def disable_wd_command(obj: Obj, devices: tuple[str, ...], as_json: bool) -> None:
    """Turn the TwinStar watchdog off."""
    _watchdog(obj, devices, False, as_json)


# --- the simulated Astribank -----------------------------------------------------------------


@main.group("sim", cls=SuggestingGroup)
def sim_group() -> None:
    """Manage a simulated Astribank state file (no configuration needed)."""


@sim_group.command("init")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--units", "count", type=int, required=True, help="How many units.")
@click.option("--port", type=int, default=0, show_default=True, help="Active port of every unit.")
def sim_init(file: str, count: int, port: int) -> None:
    """Create FILE: COUNT units, both ports powered, watchdog off."""
    from twinstar.usb import sim

    state = sim.init_state(os.path.abspath(file), units=count, port=port)
    click.echo(f"{file}: {len(state['units'])} simulated units on port {port}")


def _sim_table(state: dict[str, Any], only: Sequence[dict[str, Any]] | None = None) -> str:
    lines = [f"{'#':<3}{'SERIAL':<12}{'PRODUCT':<9}{'DEVICE':<13}{'PORT':<6}{'WATCHDOG':<10}"
             f"{'POWER0':<8}{'POWER1':<8}{'TWINSTAR':<10}{'EEPROM':<8}FAULTS"]
    for i, u in enumerate(state["units"], 1):
        if only is not None and not any(u is o for o in only):
            continue
        device = f"usb:{u['bus']:03d}/{u['address']:03d}"
        lines.append(
            f"{i:<3}{u['serial']:<12}{u['product']:<9}{device:<13}"
            f"{u['port']:<6}{'on' if u['watchdog'] else 'off':<10}{'yes' if u['power0'] else 'no':<8}"
            f"{'yes' if u['power1'] else 'no':<8}{'yes' if u['twinstar'] else 'no':<10}{u['eeprom']:<8}"
            f"{','.join(u['faults']) or '-'}".rstrip()
        )
    return "\n".join(lines)


@sim_group.command("show")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="The whole state as one JSON object.")
def sim_show(file: str, as_json: bool) -> None:
    """Show the simulated units in FILE."""
    from twinstar.usb import sim

    state = sim.load(os.path.abspath(file))
    click.echo(json.dumps(state, sort_keys=True) if as_json else _sim_table(state))


@sim_group.command("set")
@click.argument("file", type=click.Path(dir_okay=False))
@click.argument("unit")
@click.argument("settings", nargs=-1, required=True, metavar="KEY=VALUE...")
def sim_set(file: str, unit: str, settings: tuple[str, ...]) -> None:
    """Change simulated UNIT (1-based index, serial, label, or all), e.g. power1=off port=1 busy=on.

    Keys: port, watchdog, power0, power1, twinstar, eeprom, product, serial, bus,
    trace, and the fault knobs no_reply, short_reply, wrong_seq, nopwr, busy,
    timeout, denied, unplug, stuck (on/off).
    """
    from twinstar.errors import BadInputError
    from twinstar.usb import sim

    pairs = []
    for item in settings:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise BadInputError(f"{item!r}: expected KEY=VALUE", hint="keys: " + ", ".join(sim.SETTINGS))
        pairs.append((key, value))
    with sim.update(os.path.abspath(file)) as state:
        targets = sim.find_units(state, unit)
        for u in targets:
            for key, value in pairs:
                sim.apply_setting(state, u, key, value)
        table = _sim_table(state, targets)
    click.echo(table)
