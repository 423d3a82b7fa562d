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


def main(argv: list[str] | None = None) -> int:
    parsed = parse_runner_args(sys.argv[1:] if argv is None else argv)
    if parsed is None:
        print(RUNNER_USAGE, file=sys.stderr)
        return 2
    action, path, usb_address = parsed
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
