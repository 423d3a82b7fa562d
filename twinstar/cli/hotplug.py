"""``twinstar hook``: what ``hooks/atribank_hook`` runs, for testing a node by hand."""

from __future__ import annotations

import os

import click

from twinstar.cli.app import Obj, main


@main.command("hook")
@click.pass_obj
def hook(obj: Obj) -> None:
    """Decide on one Astribank uevent from udev's environment.

    Reads ACTION, XBUS_NAME, XBUS_NUM and DEVPATH like the udev rule's
    atribank_hook, scans the units against xpp_order, logs one line and hands
    a takeover or release off when it is due, e.g.:

        ACTION=online XBUS_NAME=XBUS-00 twinstar hook

    Exit 0 (also for an event that is not actionable), 2 for a configuration
    error or a missing ACTION, 1 when a hand-off failed.
    """
    from twinstar import settings
    from twinstar.cli import atribank_hook

    env = dict(os.environ)
    env[settings.CONFIG_ENV] = obj.config_path
    raise SystemExit(atribank_hook.main(environ=env))
