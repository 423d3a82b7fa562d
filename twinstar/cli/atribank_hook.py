"""``atribank_hook``: run by the udev rule for each lifecycle event of an Astribank xbus.

The udev rule runs it for ``add``, ``online``, ``offline`` and ``remove`` of
``xbus*`` devices in the ``astribanks`` subsystem. It reads udev's
environment (``ACTION``, ``XBUS_NAME``, ``XBUS_NUM``, ``DEVPATH``) and the
cached configuration, checks the units listed in ``xpp_order`` against the
xpp driver's sysfs, logs one line to syslog and stderr and returns within
milliseconds. When every listed unit is ready and the node is not active, it
hands the takeover off out of udev (a systemd unit or a detached process),
exactly once however many events race; when the node is active and no listed
unit is present any more, the release. Nothing automatic happens while the
maintenance file exists. Positional arguments are ignored.
\f
Evaluated by :func:`twinstar.hotplug.hook.evaluate`. On the hot path:
fast-path imports only. The man page atribank_hook(8) is this docstring, up
to the form feed.
"""

import sys

from twinstar import settings as tsettings
from twinstar.fastpath import hooksettings, procid
from twinstar.fastpath.syslogsend import log_line
from twinstar.hotplug.hook import ACTIONS, EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, Event, evaluate

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import NoReturn


def _exit_status(exc: BaseException) -> int | None:
    """The exit status of a TwinstarError (imported only if one was raised), else None."""
    errors = sys.modules.get("twinstar.errors")
    if errors is not None and isinstance(exc, errors.TwinstarError):
        return int(exc.exit_status)
    return None


def _run_runner(args: list[str]) -> int:
    """The hand-off runner (:mod:`twinstar.cli.handoff_runner`) on ``args``, in this (forked) process."""
    from twinstar.cli import handoff_runner

    return handoff_runner.main(args)


def main(argv: list[str] | None = None, environ: "Mapping[str, str] | None" = None) -> int:
    """Run for one udev event; the return value is the exit status.

    Positional arguments (the original rule passed some) are ignored: the
    event is in the environment.
    """
    started = procid.boottime()
    env = tsettings.process_environ() if environ is None else environ
    event = Event.from_environ(env)
    if not event.action:
        log_line(
            f"{event.label()}: ACTION is not set: atribank_hook runs from the udev rule, "
            "or as 'ACTION=online XBUS_NAME=XBUS-00 twinstar hook'",
            error=True,
        )
        return EXIT_BAD_INPUT
    if event.action not in ACTIONS:
        log_line(f"{event.label()}: not a hotplug action ({', '.join(ACTIONS)}); ignored")
        return EXIT_OK
    path = tsettings.config_path(environ=env)
    try:
        cache = hooksettings.cache_dir(env)
        settings = hooksettings.cached(path, cache)
        if settings is None:  # stale or no cache: parse the configuration (and cache it)
            from twinstar.hotplug import configuration

            settings = configuration.load(path, cache=cache)
        settings.fork_runner = _run_runner  # this process exits right after: its spawned runner may be a fork of it
        evaluation = evaluate(settings, event, environ=env, event_time=started)
    except Exception as exc:  # noqa: BLE001 - one line, never a traceback, in udev context
        status = _exit_status(exc)
        if status is None:
            log_line(f"{event.label()}: internal error: {type(exc).__name__}: {exc}", error=True)
            return EXIT_FAILED
        log_line(f"{event.label()}: {exc}", error=True)
        return status
    log_line(evaluation.line(), error=evaluation.exit_status != EXIT_OK)
    return evaluation.exit_status


def run() -> "NoReturn":
    """:func:`main`, then the end of the process: how ``hooks/atribank_hook`` runs it.

    The interpreter's teardown (freeing every module and object) is a quarter of
    a bare start's instructions and changes nothing outside the process. So, when
    the event loaded nothing that needs it (nothing imported :mod:`atexit`, so no
    exit handler is registered, and no thread was started: :mod:`threading` is not
    loaded), the output is flushed and the process ends at once with the status;
    else (an inline takeover, a parsed configuration) it exits the usual way.
    """
    status = main()
    if "atexit" in sys.modules or "threading" in sys.modules:
        sys.exit(status)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):  # closed or absent: nothing to flush
            pass
    import posix

    posix._exit(status)


if __name__ == "__main__":
    run()
