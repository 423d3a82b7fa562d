"""Hand a takeover, release or watchdog re-arm off, out of udev, exactly once.

udev kills what a RUN program leaves behind and blocks the device's events
while it runs, so the hook only decides; the work runs elsewhere:

* ``systemd``: ``systemctl start --no-block twinstar-takeover.service`` (or ``-release``);
* ``spawn``:   a fully detached process (double fork, new session, stdio on
  /dev/null, logging to syslog) running ``python -m twinstar.handoff ACTION --config PATH``;
* ``inline``:  in this process (the daemon, tests);
* ``auto``:    ``systemd`` when ``/run/systemd/system`` exists, else ``spawn``.

Exactly once: the final decision is taken again under an flock on
``state_dir/handoff.lock`` with fresh readiness and state, and each hand-off
is recorded in ``state_dir/handoff.json`` (action, time, mode, pid and its
start time when known). A recorded hand-off blocks another one while it is
pending: its process is alive (pid reuse is ruled out by the start time), or
for ``systemd`` it is younger than :data:`SYSTEMD_GRACE`, and no transition
has begun since. The engine's own lock held by another process also blocks.
A hand-off whose process is gone without progress, or a ``starting`` state
whose process died, is stale and blocks nothing.

Only :func:`read_node` and the helpers it uses run on the hook's fast path;
everything else imports what it needs when it acts.
"""

from __future__ import annotations

import os
import sys
import time

from twinstar import settings as tsettings

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from twinstar.astribank.readiness import Readiness
    from twinstar.config import Config
    from twinstar.decision import Decision
    from twinstar.engine import Report
    from twinstar.hooksettings import HookSettings

SYSTEMD = "systemd"
SPAWN = "spawn"
INLINE = "inline"
AUTO = "auto"
MODES = (AUTO, SYSTEMD, SPAWN, INLINE)

#: How long a ``systemd`` hand-off (no pid to watch) blocks another one.
SYSTEMD_GRACE = 60.0
#: How long a hook waits for ``handoff.lock`` (held only while deciding and handing off).
LOCK_WAIT = 30.0
#: Transitions one evaluation may chain (takeover, then release because units left meanwhile...).
MAX_CHAIN = 3
#: Niceness a watchdog re-arm adds: every ``online`` event re-arms its unit, and
#: those re-arms (Python, configuration, pyusb) must not take CPU from the takeover.
REARM_NICE = 10

ROLES = ("standby", "starting", "active", "stopping", "failed")
#: Environment passed on to a spawned hand-off, besides a fixed PATH and locale.
PASSED_ENV = ("TWINSTAR_CACHE_DIR", "TWINSTAR_USB_SIMULATOR", "TWINSTAR_USB_SIM_PORT", "TWINSTAR_CONFIG")


def _state_error(message: str, hint: str | None = None) -> Exception:
    from twinstar.errors import StateError

    return StateError(message, hint=hint)


# --- reading state.json cheaply ------------------------------------------------------------


class _JsonContext:
    """What the C JSON scanner asks of its decoder (``json`` itself would import ``re``)."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    memo: dict[str, str] = {}

    @staticmethod
    def parse_constant(name: str) -> float:
        raise ValueError(f"{name} is not allowed")


def _loads(text: str) -> object:
    try:
        import _json

        scanner = _json.make_scanner(_JsonContext())  # type: ignore[arg-type]  # it reads only these attributes
    except (ImportError, AttributeError):  # another Python implementation
        import json

        return json.loads(text)
    try:
        value, end = scanner(text, len(text) - len(text.lstrip()))
    except StopIteration:
        raise ValueError("not JSON") from None
    if text[end:].strip():
        raise ValueError("extra data after the JSON value")
    return value


def read_json_object(path: str) -> dict[str, object] | None:
    """A JSON object from ``path`` (never through a symlink); None when it does not exist."""
    # The hook's copy of state.read_json: that one imports json (and so re) and dataclasses.
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise _state_error(f"cannot read {path}: {exc.strerror}") from None
    try:
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
    finally:
        os.close(fd)
    try:
        value = _loads(b"".join(chunks).decode("utf-8"))
    except (ValueError, RecursionError):
        raise _state_error(f"{path} is not valid JSON", "remove it; the next run rebuilds it") from None
    if type(value) is not dict:
        raise _state_error(f"{path} does not hold a JSON object", "remove it")
    return value


def process_start(pid: int) -> int | None:
    """The start time of process ``pid`` in clock ticks since boot; None when it is gone or a zombie."""
    # Not state.pid_alive: the hook must not import state.py, and the start time also rules out pid reuse.
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    fields = data[data.rindex(b")") + 2 :].split()
    if fields[0] == b"Z":
        return None
    return int(fields[19])


def process_alive(pid: object, start: object = None) -> bool:
    """Process ``pid`` exists, is not a zombie and, if ``start`` is given, started then."""
    if type(pid) is not int or pid <= 0:
        return False
    began = process_start(pid)
    if began is None:
        return False
    return start is None or began == start


class NodeView:
    """What the decision needs from ``state.json``."""

    __slots__ = ("role", "pid", "since")

    def __init__(self, role: str = "standby", pid: int | None = None, since: float = 0.0) -> None:
        self.role = role
        self.pid = pid
        self.since = since

    @property
    def interrupted(self) -> bool:
        return self.role in ("starting", "stopping") and not process_alive(self.pid)


def read_node(state_dir: str) -> NodeView:
    path = f"{state_dir}/{tsettings.STATE_FILE}"
    raw = read_json_object(path)
    if raw is None:
        return NodeView()
    role, pid, since = raw.get("role", "standby"), raw.get("pid"), raw.get("since", 0.0)
    if role not in ROLES or not (pid is None or type(pid) is int) or type(since) not in (int, float):
        raise _state_error(f"{path} holds an unknown role or a malformed pid/since", "remove it; the next takeover or release rebuilds it")
    return NodeView(str(role), pid, float(since))  # type: ignore[arg-type]


# --- the hand-off record -------------------------------------------------------------------


def record_path(state_dir: str) -> str:
    return f"{state_dir}/{tsettings.HANDOFF_FILE}"


def read_record(state_dir: str) -> dict[str, object] | None:
    try:
        return read_json_object(record_path(state_dir))
    except Exception:  # noqa: BLE001 - a torn or foreign record is treated as absent
        return None


def write_record(state_dir: str, record: dict[str, object]) -> None:
    from twinstar.state import write_json

    write_json(record_path(state_dir), record)


def pending(state_dir: str, node: NodeView, record: dict[str, object] | None, *, now: float) -> str | None:
    """What still blocks a new hand-off, or None."""
    from twinstar.state import FileLock

    if FileLock(f"{state_dir}/{tsettings.LOCK_FILE}").held_by_other():
        return "a takeover or release is running (the engine lock is held)"
    if not record:
        return None
    when = record.get("time")
    if type(when) not in (int, float) or node.since >= when:  # type: ignore[operator]
        return None  # a transition began after this hand-off: it was taken up
    age = now - when  # type: ignore[operator]
    what = f"{record.get('action')} handed off {age:.1f} s ago ({record.get('mode')}"
    pid = record.get("pid")
    if pid is not None:
        if process_alive(pid, record.get("start")):
            return f"{what}, pid {pid})"
        return None  # its process is gone and nothing happened: stale
    if 0 <= age < SYSTEMD_GRACE:
        return what + ")"
    return None


# --- acting ------------------------------------------------------------------------------------


def resolve_mode(mode: str) -> str:
    if mode == AUTO:
        return SYSTEMD if os.path.isdir(tsettings.SYSTEMD_RUNTIME_DIR) else SPAWN
    if mode not in MODES:
        raise ValueError(f"unknown hand-off mode {mode!r}")
    return mode


def _package_root() -> str:
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def spawn_detached(argv: list[str], env: dict[str, str], *, background: bool = False) -> int:
    """Start ``argv`` fully detached (double fork, new session, stdio on /dev/null); its pid.

    The intermediate child exits at once and is reaped here, so the caller
    never leaves a zombie, and the process survives the caller's exit.
    ``background`` work (a watchdog re-arm) runs under SCHED_IDLE from before
    its interpreter starts: it gets the CPU only when nothing else wants it,
    so it never delays a takeover that the same burst of events starts.
    """
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the forked child
        code = 0
        try:
            os.close(read_end)
            os.setsid()
            grandchild = os.fork()
            if grandchild == 0:
                code = 127
                # First let go of everything inherited (the caller's pipes, udev's
                # stdout/stderr): whoever reads them must not wait for this process.
                devnull = os.open(os.devnull, os.O_RDWR)
                for fd in (0, 1, 2):
                    os.dup2(devnull, fd)
                os.closerange(3, 1024)
                import signal

                signal.pthread_sigmask(signal.SIG_SETMASK, [])
                for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGPIPE):
                    signal.signal(sig, signal.SIG_DFL)
                if background:
                    _run_in_background()
                os.chdir("/")
                os.execve(argv[0], argv, env)
            os.write(write_end, str(grandchild).encode())
        except BaseException:  # noqa: BLE001 - nothing may escape a forked child
            code = code or 1
        finally:
            os._exit(code)
    os.close(write_end)
    data = b""
    while chunk := os.read(read_end, 64):
        data += chunk
    os.close(read_end)
    os.waitpid(child, 0)
    if not data.isdigit():
        from twinstar.errors import ProgramError

        raise ProgramError(f"could not start {argv[0]} detached", argv=tuple(argv))
    return int(data)


def _run_in_background() -> None:
    """This process only gets idle CPU time (SCHED_IDLE; else the lowest niceness).

    It runs in a session of its own, which the kernel's autogroup scheduling
    (on by default in Debian's kernels) weighs like any other session whatever
    the process's own policy: the session's group is lowered too.
    """
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (OSError, AttributeError):
        try:
            os.setpriority(os.PRIO_PROCESS, 0, 19)
        except OSError:
            pass
    try:
        fd = os.open("/proc/self/autogroup", os.O_WRONLY)
        try:
            os.write(fd, b"19")
        finally:
            os.close(fd)
    except OSError:
        pass  # no autogroup scheduling on this kernel


def runner_argv(settings: HookSettings, action: str, *extra: str) -> list[str]:
    """The command line of a detached hand-off: no PATH needed, configuration explicit."""
    return [sys.executable, "-m", "twinstar.handoff", action, "--config", settings.source, *extra]


def runner_env(environ: Mapping[str, str]) -> dict[str, str]:
    env = {"PATH": tsettings.SAFE_PATH, "LC_ALL": "C", "LANG": "C", "PYTHONPATH": _package_root()}
    for name in PASSED_ENV:
        if name in environ:
            env[name] = environ[name]
    return env


def _systemctl(settings: HookSettings, unit: str) -> None:
    from twinstar.proc import ProgramRunner

    ProgramRunner(programs=dict(settings.programs)).run(["systemctl", "start", "--no-block", unit], timeout=30)


def act(
    settings: HookSettings,
    compute: Callable[[], Readiness],
    *,
    trigger: str,
    event_time: float | None,
    mode: str,
    environ: Mapping[str, str],
    chain: int = 0,
) -> tuple[Decision, str | None, Report | None]:
    """Decide again under ``handoff.lock`` with fresh readiness and state, and hand off.

    Returns the final decision, what was handed off (None: nothing) and, for
    ``inline``, the transition's report.
    """
    from twinstar.decision import NOTHING, decide
    from twinstar.state import FileLock

    lock = FileLock(f"{settings.state_dir}/{tsettings.HANDOFF_LOCK_FILE}")
    lock.acquire(timeout=LOCK_WAIT)
    try:
        readiness = compute()
        node = read_node(settings.state_dir)
        now = time.time()
        decision = decide(
            readiness,
            role=node.role,
            interrupted=node.interrupted,
            maintenance=os.path.lexists(settings.maintenance_file),
            pending=pending(settings.state_dir, node, read_record(settings.state_dir), now=now),
            trigger=trigger,
            event_time=event_time,
            since=node.since,
        )
        if decision.action == NOTHING:
            return decision, None, None
        action = decision.action
        how = resolve_mode(mode)
        record: dict[str, object] = {"action": action, "time": now, "mode": how, "node": settings.node, "pid": None}
        if how == SYSTEMD:
            unit = tsettings.TAKEOVER_UNIT if action == "takeover" else tsettings.RELEASE_UNIT
            _systemctl(settings, unit)
            handed = f"{action} handed off to systemd ({unit})"
        elif how == SPAWN:
            pid = spawn_detached(runner_argv(settings, action), runner_env(environ))
            record["pid"], record["start"] = pid, process_start(pid)
            handed = f"{action} handed off to a detached process (pid {pid})"
        else:
            record["pid"], record["start"] = os.getpid(), process_start(os.getpid())
            handed = f"{action} running in this process"
        write_record(settings.state_dir, record)
    finally:
        lock.release()
    report = run_transition(settings, action, mode=mode, environ=environ, chain=chain) if how == INLINE else None
    return decision, handed, report


def rearm(settings: HookSettings, busnum: int, devnum: int, *, mode: str, environ: Mapping[str, str]) -> str:
    """Hand the re-arm of one unit's watchdog off (USB code never runs in the hook)."""
    how = resolve_mode(mode)
    if how == SYSTEMD:
        unit = tsettings.REARM_UNIT.format(f"{busnum:03d}-{devnum:03d}")
        _systemctl(settings, unit)
        return f"watchdog re-arm handed off to systemd ({unit})"
    if how == SPAWN:
        pid = spawn_detached(runner_argv(settings, "rearm", str(busnum), str(devnum)), runner_env(environ), background=True)
        return f"watchdog re-arm handed off (pid {pid})"
    before = lower_priority(REARM_NICE)
    try:
        return rearm_watchdog(settings.full_config(), busnum, devnum, environ=environ)
    finally:
        restore_priority(before)


def lower_priority(increment: int) -> int | None:
    """Add ``increment`` to the calling thread's niceness; the niceness before, None if unchanged.

    On Linux the niceness belongs to the thread, so a daemon re-arming inline
    lowers only the thread doing it, and only until :func:`restore_priority`.
    """
    try:
        before = os.getpriority(os.PRIO_PROCESS, 0)
        os.setpriority(os.PRIO_PROCESS, 0, min(before + increment, 19))
    except OSError:
        return None
    return before


def restore_priority(before: int | None) -> None:
    """Back to the niceness :func:`lower_priority` found (needs CAP_SYS_NICE, as root has)."""
    if before is None:
        return
    try:
        os.setpriority(os.PRIO_PROCESS, 0, before)
    except OSError:
        pass  # not allowed to raise it again: this thread stays lower, which is safe


def rearm_watchdog(config: Config, busnum: int, devnum: int, *, environ: Mapping[str, str] | None = None) -> str:
    """Enable the TwinStar watchdog of the unit at USB ``busnum``/``devnum``; what was done.

    The USB side lives in :mod:`twinstar.usb.watchdog` (pyusb is imported
    only there); this is the one place the hotplug path calls it.
    """
    from twinstar.usb.watchdog import rearm_watchdog as usb_rearm

    return usb_rearm(config, busnum, devnum, environ=environ)


# --- running a transition ---------------------------------------------------------------------


def run_transition(
    settings: HookSettings, action: str, *, mode: str | None = None, environ: Mapping[str, str] | None = None, chain: int = 0
) -> Report:
    """Run the takeover or release here, log one line, then look again.

    Units may have come or gone while the transition ran and their events
    found it pending; so the decision is taken once more afterwards (at most
    :data:`MAX_CHAIN` transitions in a row).
    """
    from twinstar.engine import engine_for

    engine = engine_for(settings.full_config())
    report = engine.takeover() if action == "takeover" else engine.release()
    verdict = "ok" if report.ok else f"FAILED: {report.error}"
    _log(f"{action} {verdict} (role {report.role.value}, {report.duration * 1000:.0f} ms)", error=not report.ok)
    if chain + 1 < MAX_CHAIN:
        from twinstar.decision import AFTER_TRANSITION
        from twinstar.hook import evaluate

        try:
            outcome = evaluate(
                settings, None, handoff_mode=mode, trigger=AFTER_TRANSITION, environ=environ, chain=chain + 1
            )
        except Exception as exc:  # noqa: BLE001 - the transition itself is done; report and go on
            _log(f"after {action}: {exc}", error=True)
        else:
            if outcome.handed_off:
                _log(f"after {action}: {outcome.line()}")
    return report


def _log(line: str, *, error: bool = False) -> None:
    from twinstar.hook import log_line

    log_line(line, error=error)


# --- the detached side: python -m twinstar.handoff ACTION --config PATH [BUS DEV] ------------


USAGE = "usage: python -m twinstar.handoff takeover|release --config PATH | rearm --config PATH BUSNUM DEVNUM"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) < 3 or args[0] not in ("takeover", "release", "rearm") or args[1] != "--config":
        print(USAGE, file=sys.stderr)
        return 2
    action, path, rest = args[0], args[2], args[3:]
    if (action == "rearm") != (len(rest) == 2) or not all(a.isdigit() for a in rest):
        print(USAGE, file=sys.stderr)
        return 2
    if action == "rearm":
        lower_priority(REARM_NICE)  # before the imports and the configuration: all of it is re-arm work
    from twinstar import log
    from twinstar.errors import TwinstarError
    from twinstar.hooksettings import HookSettings

    log.setup()
    try:
        from twinstar import config as config_mod

        settings = HookSettings.from_config(config_mod.load(path))
        if action == "rearm":
            busnum, devnum = int(rest[0]), int(rest[1])
            _log(f"watchdog re-arm: {rearm_watchdog(settings.full_config(), busnum, devnum, environ=os.environ)}")
            return 0
        report = run_transition(settings, action, environ=os.environ)
    except TwinstarError as exc:
        _log(f"{action}: error: {exc}", error=True)
        return int(exc.exit_status)
    return int(report.exit_status)


if __name__ == "__main__":
    sys.exit(main())
