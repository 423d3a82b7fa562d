"""``twinstar_hook``: the original calling convention of the TwinStar hook.

``ACTION=online`` runs the takeover, ``ACTION=offline`` the release; any
other value is bad input (exit 2). The configuration comes from
``$TWINSTAR_CONFIG`` or the default path.
"""

from __future__ import annotations

import os
import sys

from twinstar import config as config_mod
from twinstar import settings, words
from twinstar.engine import log
from twinstar.errors import ExitStatus, TwinstarError

_ACTIONS = {"online": words.TAKEOVER, "offline": words.RELEASE}


def main(argv: list[str] | None = None, environ: dict[str, str] | None = None) -> int:
    env = dict(os.environ) if environ is None else environ
    log.setup()
    action = env.get("ACTION", "")
    if action not in _ACTIONS:
        print(
            f"twinstar_hook: error: ACTION must be 'online' (takeover) or 'offline' (release), found {action!r}",
            file=sys.stderr,
        )
        return int(ExitStatus.BAD_INPUT)
    try:
        from twinstar.cli.engine import render_report
        from twinstar.engine.runner import engine_for

        cfg = config_mod.load(settings.config_path(environ=env))
        engine = engine_for(cfg)
        report = engine.takeover() if _ACTIONS[action] == words.TAKEOVER else engine.release()
    except TwinstarError as exc:
        print(f"twinstar_hook: error: {exc}", file=sys.stderr)
        return int(exc.exit_status)
    print(render_report(report))
    return int(report.exit_status)


if __name__ == "__main__":
    sys.exit(main())
