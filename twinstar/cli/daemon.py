"""``twinstar daemon``: the long-running event loop (see :mod:`twinstar.daemon.loop`)."""

from __future__ import annotations

import os

import click

from twinstar.cli.app import Obj, main
from twinstar.daemon.loop import Daemon
from twinstar.daemon.monitor import Source, UdevMonitor
from twinstar.daemon.notify import ENV_VARS, Notifier
from twinstar.engine import log
from twinstar.engine.runner import engine_for


@main.command()
@click.option(
    "--source",
    type=click.Choice([s.value for s in Source]),
    default=None,
    help="Netlink group to listen to: udev (after udevd) or kernel. Default: udev when udevd runs, else kernel.",
)
@click.pass_obj
def daemon(obj: Obj, source: str | None) -> None:
    """Run the event loop: uevents, periodic re-evaluation, step checks.

    Makes the same decisions as atribank_hook and runs takeover and release
    itself. SIGHUP reloads the configuration; SIGTERM and SIGINT stop the
    daemon without releasing anything (unless daemon.release_on_stop).
    Speaks the systemd notify protocol when $NOTIFY_SOCKET is set.
    """
    log.setup(verbose=obj.verbose)  # under systemd: the journal once (engine.log)
    config = obj.config  # an invalid configuration is exit 2 before anything starts
    engine_for(config).preflight()
    notifier = Notifier.from_environ()
    for name in ENV_VARS:  # the programs we start must not notify in our name
        os.environ.pop(name, None)
    chosen = Source(source) if source else None
    raise SystemExit(
        Daemon(
            config,
            config_path=obj.config_path,
            open_monitor=lambda: UdevMonitor.open(source=chosen),
            notifier=notifier,
        ).run()
    )
