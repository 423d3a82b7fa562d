"""Ready actions: the operator's ``on_ready`` commands, run once a takeover has brought the node up.

The original ``twinstar_hook`` blinked the unit and announced the primary or
backup PBX after ``dahdi start``; here these are commands of the
configuration (examples in docs/telephony.md). They are off the takeover's
critical path: the engine, once the takeover is recorded and its lock
released, starts one detached process (its own session, stdio on
/dev/null: ``python -m twinstar.engine.ready``) and returns. That process
runs the commands one after the other through the one program runner (argv
only, fixed PATH, the whole process group killed at ``on_ready_timeout``; as
root, never a program another user could replace) and
journals each (``event: ready``, ``started`` then ``ok``/``failed``/``timeout``,
under the takeover's run id); a failure is also logged to syslog. Nothing
of the takeover depends on them: it has succeeded already.

They run after a takeover that applied at least one step; a takeover that
found everything up (a second ``twinstar takeover``) announces nothing again.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence

from twinstar.engine.proc import ProgramRunner, clean_env
from twinstar.engine.report import Report, StepResult
from twinstar.errors import ProgramError, ProgramTimeout, StateError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from twinstar.config import Config
    from twinstar.engine.records import ReadyLine

log = logging.getLogger("twinstar.ready")


def wanted(report: Report) -> bool:
    """A takeover that succeeded and brought at least one step up."""
    return report.ok and any(o.result == StepResult.DONE for o in report.steps)


def start(config: Config, run_id: str) -> subprocess.Popen[bytes]:
    """Start the detached runner of ``config.on_ready`` for takeover ``run_id``; returns at once."""
    import threading

    job = {
        "run": run_id,
        "actions": [list(a) for a in config.on_ready],
        "timeout": config.on_ready_timeout,
        "state_dir": config.state_dir,
        "programs": config.program_map,
    }
    package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    proc = subprocess.Popen(
        [sys.executable, "-m", "twinstar.engine.ready", json.dumps(job)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        close_fds=True,
        start_new_session=True,
        cwd="/",
        env=clean_env({"PYTHONPATH": package_root}),
    )
    threading.Thread(target=proc.wait, name=f"ready-reaper-{proc.pid}", daemon=True).start()
    log.info("on_ready: %d command(s) started in process %d", len(config.on_ready), proc.pid)
    return proc


def after_takeover(config: Config) -> Callable[[Report, str], subprocess.Popen[bytes] | None] | None:
    """What the engine calls after a takeover (None without ``on_ready``): the runner, when :func:`wanted`."""
    if not config.on_ready:
        return None

    def on_ready(report: Report, run_id: str) -> subprocess.Popen[bytes] | None:
        if not wanted(report):
            return None
        try:
            return start(config, run_id)
        except OSError as exc:  # the takeover has succeeded: a runner that cannot start is only logged
            log.error("on_ready: cannot start the commands: %s", exc.strerror or exc)
            return None

    return on_ready


def run_actions(
    actions: Sequence[Sequence[str]],
    *,
    run_id: str,
    timeout: float,
    runner: ProgramRunner,
    journal: Callable[[ReadyLine], None],
    clock: Callable[[], float] = time.time,
) -> list[ReadyLine]:
    """Run each command in turn (a failure does not stop the next); journal and return how each ended."""
    ended: list[ReadyLine] = []
    for argv in actions:
        started = clock()
        _note(journal, {"ts": started, "run": run_id, "event": "ready", "argv": list(argv), "result": "started"})
        line: ReadyLine = {"ts": started, "run": run_id, "event": "ready", "argv": list(argv), "result": "ok"}
        try:
            _refuse_replaceable(runner, argv[0])
            runner.run(argv, timeout=timeout)
        except ProgramTimeout as exc:
            line["result"], line["error"] = "timeout", str(exc)
        except ProgramError as exc:
            line["result"], line["error"] = "failed", str(exc)
        line["duration_ms"] = round((clock() - started) * 1000, 1)
        if "error" in line:
            log.error("on_ready: %s", line["error"])
        _note(journal, line)
        ended.append(line)
    return ended


def _refuse_replaceable(runner: ProgramRunner, name: str) -> None:
    """As root, a program that another user could replace is not run (as the steps' programs are not)."""
    if os.geteuid() != 0:
        return
    from twinstar.fastpath import safefile

    path = runner.resolve(name)
    why = safefile.replaceable(path)
    if why is not None:
        raise ProgramError(f"refusing to run {path} as root: {why}", argv=(path,))


def _note(journal: Callable[[ReadyLine], None], line: ReadyLine) -> None:
    try:
        journal(line)
    except StateError as exc:
        log.error("on_ready: %s", exc)


def main(argv: list[str] | None = None) -> int:
    """The detached runner: one argument, the job as JSON (written by :func:`start`)."""
    from twinstar.engine import log as tlog
    from twinstar.engine.state import StateStore

    args = sys.argv[1:] if argv is None else argv
    job = json.loads(args[0])
    tlog.setup(stderr=False)
    store = StateStore(job["state_dir"])
    lines = run_actions(
        job["actions"],
        run_id=job["run"],
        timeout=float(job["timeout"]),
        runner=ProgramRunner(programs=job["programs"]),
        journal=store.journal,
    )
    return 0 if all(line["result"] == "ok" for line in lines) else 1


if __name__ == "__main__":
    sys.exit(main())
