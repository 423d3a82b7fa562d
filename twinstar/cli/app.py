"""The ``twinstar`` command line.

Each group of commands lives in its own module and registers itself on
:data:`main`; this module holds the group, the shared options, and the one
place where a :class:`~twinstar.errors.TwinstarError` becomes a one-line
message and an exit status.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

import twinstar
from twinstar.cli.context import Obj as Obj
from twinstar.cli.context import error_line, internal_error_line
from twinstar.cli.options import CONFIG, IGNORED_X, VERBOSE, Option
from twinstar.errors import ExitStatus, TwinstarError

F = TypeVar("F", bound=Callable[..., Any])


def option(spec: Option) -> Callable[[F], F]:
    """The click option of ``spec`` (:mod:`twinstar.cli.options` holds each option once)."""
    extra: dict[str, Any] = {}
    if spec.flag:
        extra["is_flag"] = True
    if spec.multiple:
        extra["multiple"] = True
    if spec.metavar is not None:
        extra["metavar"] = spec.metavar
    if spec.hidden:
        extra["hidden"] = True
    return click.option(*spec.names, spec.dest, help=spec.help, **extra)


class Number(click.ParamType):  # type: ignore[type-arg]
    """A command-line number: finite and within the range of the configuration key it overrides."""

    name = "number"

    def __init__(self, key: str) -> None:
        from twinstar import config as config_mod

        self.range = config_mod.NUMBERS[key]

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool):
            number: object = value
        else:
            try:
                number = int(value) if self.range.integer else float(value)
            except (TypeError, ValueError):
                number = str(value)
        from twinstar.schema import check_number

        why = check_number(number, self.range)
        if why is not None:
            self.fail(why, param, ctx)
        return number


class SuggestingGroup(click.Group):
    """A group that names the closest command when one is mistyped (exit 2, as every usage error)."""

    def resolve_command(self, ctx: click.Context, args: list[str]) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0] if args else ""
        if args and not name.startswith("-") and self.get_command(ctx, name) is None:
            from twinstar.suggest import hint

            ctx.fail(f"no such command {name!r} ({hint(name, self.list_commands(ctx), 'commands')})")
        return super().resolve_command(ctx, args)


class TwinstarGroup(SuggestingGroup):
    """Loads commands on demand; turns twinstar errors into one line and the contract's exit status."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMAND_MODULES)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in _COMMAND_MODULES:
            import importlib

            importlib.import_module(f"twinstar.cli.{_COMMAND_MODULES[cmd_name]}")
        return self.commands.get(cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except TwinstarError as exc:
            click.echo(error_line(exc), err=True)
            ctx.exit(int(exc.exit_status))
        except click.UsageError as exc:
            # Usage errors are bad input: exit 2 per the contract (click's default too).
            exc.exit_code = int(ExitStatus.BAD_INPUT)  # type: ignore[misc]  # click reads it per instance
            raise
        except (click.exceptions.Exit, click.Abort, SystemExit, KeyboardInterrupt):
            raise
        except Exception as exc:  # noqa: BLE001 - a bug must still end with one clear line
            obj = ctx.find_object(Obj)
            if obj is not None and obj.verbose:
                raise
            click.echo(internal_error_line(exc), err=True)
            ctx.exit(int(ExitStatus.FAILED))


@click.group(cls=TwinstarGroup, context_settings={"help_option_names": ["-h", "--help"]})
@option(CONFIG)
@option(VERBOSE)
@option(IGNORED_X)
@click.version_option(version=twinstar.__version__)
@click.pass_context
def main(ctx: click.Context, config_path: str | None, verbose: bool, _x: bool) -> None:
    """Failover for two-server Asterisk PBX clusters on Astribank TwinStar units.

    Exit statuses: 0 success, 1 an operation failed, 2 bad usage, configuration
    or input (nothing was changed), 3 refused by a safety guard.
    """
    from twinstar.engine import log

    log.setup(verbose=verbose, use_syslog=ctx.invoked_subcommand not in _NO_SYSLOG)
    ctx.obj = Obj(config_path, verbose)


#: Read-only commands whose output should not go to syslog.
_NO_SYSLOG = {"status", "ports", "check", "sim", "demo"}


#: Which module defines each command. Modules are imported only when their
#: command runs (or for --help), so a command pays only for its own imports.
_COMMAND_MODULES: dict[str, str] = {
    "takeover": "engine",
    "release": "engine",
    "check": "engine",
    "status": "usb",
    "ports": "usb",
    "jump": "usb",
    "enable-wd": "usb",
    "disable-wd": "usb",
    "sim": "usb",
    "hook": "hotplug",
    "daemon": "daemon",
    "setup": "prepare",
    "replica": "prepare",
    "switchover": "switchover",
    "demo": "demo",
    "ocf": "ocf",
    "maintenance": "policy",
    "give-up": "policy",
    "policy": "policy",
}


def run() -> None:  # pragma: no cover - console entry point alias
    sys.exit(main())
