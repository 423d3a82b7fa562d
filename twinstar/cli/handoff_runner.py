"""The detached side of a ``spawn`` hand-off: ``python -m twinstar.cli.handoff_runner``.

:func:`twinstar.fastpath.detach.spawn_detached` starts it, fully detached,
with ``takeover|release --config PATH`` or ``rearm --config PATH BUSNUM DEVNUM``.
It logs to syslog; its exit status is the transition's.
"""

from __future__ import annotations

import os
import sys

from twinstar.hotplug.handoff import (
    REARM_NICE,
    RUNNER_USAGE,
    lower_priority,
    parse_runner_args,
    rearm_watchdog,
)

#: Held by a policy runner from its first instructions to its exit (:func:`claim_policy_start`).
POLICY_START_LOCK = "policy-start.lock"


def claim_policy_start(path: str) -> int | None:
    """Take ``state_dir/policy-start.lock``: its descriptor (-1: not taken), None when another runner holds it.

    A burst of events (units arriving together) hands a runner off for each
    event that finds none looking yet (``policy-run.lock``, taken once a
    runner has loaded the configuration and the policy): without this, each
    of them would load all of it only to find the first one looking, and take
    that CPU from the takeover the same burst starts. Built-in modules and the
    hook's settings cache only; without the cache the claim is left to the
    policy run's own lock, as before.
    """
    from twinstar.fastpath import hooksettings
    from twinstar.fastpath.detach import claim_runner_lock

    settings = hooksettings.cached(path, hooksettings.cache_dir(os.environ))
    if settings is None:
        return -1
    return claim_runner_lock(settings.state_dir, POLICY_START_LOCK)


def main(argv: list[str] | None = None) -> int:
    parsed = parse_runner_args(sys.argv[1:] if argv is None else argv)
    if parsed is None:
        print(RUNNER_USAGE, file=sys.stderr)
        return 2
    action, path, usb_address = parsed
    name_process(action)
    claim = claim_policy_start(path) if action == "policy" else -1
    if claim is None:
        return 0  # another runner is starting or looking: it sees these units too
    try:
        return _run(action, path, usb_address)
    finally:
        if claim >= 0:
            os.close(claim)


def name_process(action: str) -> None:
    """Show the runner as ``twinstar-ACTION`` in ``ps``, ``top`` and ``pgrep`` (the kernel keeps 15 characters).

    A runner forked from the udev hook would otherwise go by the hook's name
    for as long as it waits, and one started anew by the interpreter's.
    Without ``/proc`` the name stays as it was.
    """
    try:
        with open("/proc/self/comm", "w", encoding="ascii") as comm:
            comm.write(f"twinstar-{action}"[:15])
    except OSError:
        pass


def _run(action: str, path: str, usb_address: tuple[int, int] | None) -> int:
    from twinstar.hotplug.configuration import complete_startup

    complete_startup()  # a fork of the udev hook started without site: PyYAML and the steps need it
    if action == "prepare":
        from twinstar.fastpath.detach import INHERITED_LOCK_FD, PREPARED_WAIT
        from twinstar.hotplug import prepared

        # The hook that started this runner took prepared.lock for it, on this descriptor (adopt checks that it is).
        seconds = usb_address[0] if usb_address is not None else PREPARED_WAIT
        return prepared.main(path, seconds, lock_fd=INHERITED_LOCK_FD)
    if usb_address is not None or action == "policy":
        lower_priority(REARM_NICE)  # before the imports and the configuration: all of it is re-arm or policy work
    from twinstar.engine import log
    from twinstar.errors import TwinstarError
    from twinstar.fastpath.hooksettings import HookSettings
    from twinstar.fastpath.syslogsend import log_line
    from twinstar.hotplug.hook import policy_loop, run_transition

    log.setup()
    try:
        from twinstar import config as config_mod

        config = config_mod.load(path)
        if usb_address is not None:
            busnum, devnum = usb_address
            log_line(f"watchdog re-arm: {rearm_watchdog(config, busnum, devnum, environ=os.environ)}")
            return 0
        settings = HookSettings.from_config(config)
        if action == "policy":
            policy_loop(settings, environ=os.environ)
            return 0
        report = run_transition(settings, action, environ=os.environ)
        if action == "takeover" and not report.ok:
            policy_loop(settings, environ=os.environ)  # retries wait here: no daemon looks again
    except TwinstarError as exc:
        log_line(f"{action}: error: {exc}", error=True)
        return int(exc.exit_status)
    return int(report.exit_status)


if __name__ == "__main__":
    sys.exit(main())
