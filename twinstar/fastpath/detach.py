"""Work handed out of the caller's process: a fully detached start, and the runner it starts.

Built-in modules only (:mod:`posix`, never :mod:`os`), like the rest of the
udev hook's fast path: an event that hands the pair policy's runner off pays
for this module and a fork, not for the hand-off machinery
(:mod:`twinstar.hotplug.handoff`, which uses the same functions).
"""

import posix
import sys

from twinstar import settings as tsettings
from twinstar import words

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from twinstar.fastpath.hooksettings import HookSettings

#: The lock a policy runner holds while it waits and acts: one at a time.
POLICY_RUN_LOCK = "policy-run.lock"
#: The prepared takeover runner (spawn mode): its lock (one at a time), its FIFO and its pid, in ``state_dir``.
PREPARED_LOCK, PREPARED_FIFO, PREPARED_PID = "prepared.lock", "prepared.fifo", "prepared.pid"
#: The descriptor on which a detached runner finds the lock its hook took for it (``spawn_detached(keep_fd=)``).
INHERITED_LOCK_FD = 3
#: How long a prepared runner waits for its wake-up, in seconds.
PREPARED_WAIT = 30
#: Environment passed on to a spawned hand-off, besides a fixed PATH and locale.
PASSED_ENV = ("TWINSTAR_CACHE_DIR", "TWINSTAR_USB_SIMULATOR", "TWINSTAR_USB_SIM_PORT", "TWINSTAR_CONFIG")


def resolve_mode(mode: str) -> str:
    """The hand-off mode ``mode`` stands for: ``auto`` is ``systemd`` when systemd runs, else ``spawn``."""
    if mode == words.AUTO:
        try:
            systemd = posix.stat(tsettings.SYSTEMD_RUNTIME_DIR).st_mode & 0o170000 == 0o040000  # a directory
        except OSError:
            systemd = False
        return words.SYSTEMD if systemd else words.SPAWN
    if mode not in words.HANDOFF_MODES:
        raise ValueError(f"unknown hand-off mode {mode!r}")
    return mode


def package_root() -> str:
    """The directory twinstar is imported from (this file is ``<root>/twinstar/fastpath/detach.py``)."""
    here = __file__ if __file__.startswith("/") else f"{posix.getcwd()}/{__file__}"
    return here.rsplit("/", 3)[0]


def runner_argv(settings: "HookSettings", action: str, *extra: str) -> "list[str]":
    """The command line of a detached hand-off: no PATH needed, configuration explicit (read by
    :func:`twinstar.hotplug.handoff.parse_runner_args`)."""
    return [sys.executable, "-m", "twinstar.cli.handoff_runner", action, "--config", settings.source, *extra]


def runner_env(environ: "Mapping[str, str]") -> "dict[str, str]":
    """The environment of a detached hand-off: a fixed PATH and locale, this twinstar, and :data:`PASSED_ENV`."""
    env = {"PATH": tsettings.SAFE_PATH, "LC_ALL": "C", "LANG": "C", "PYTHONPATH": package_root()}
    for name in PASSED_ENV:
        if name in environ:
            env[name] = environ[name]
    return env


#: What an event notes when a pair-policy runner (spawned, or ``twinstar-policy.service``) is looking already.
POLICY_LOOKING = "policy: a runner is already looking"
#: What an arriving event notes when a prepared runner (spawned, or ``twinstar-prepared.service``) holds its lock.
ALREADY_PREPARED = "takeover runner already prepared"


def runner_busy(state_dir: str, lock: str, note: str) -> str | None:
    """``note`` when a runner holds ``state_dir/lock`` already (no second one is started), else None."""
    from twinstar.fastpath.lockprobe import held_by_other

    return note if held_by_other(f"{state_dir}/{lock}") else None


def policy_runner(settings: "HookSettings", environ: "Mapping[str, str]") -> str:
    """Start the pair policy in a detached runner (it may wait), unless one runs already; what was done."""
    busy = runner_busy(settings.state_dir, POLICY_RUN_LOCK, POLICY_LOOKING)
    if busy is not None:
        return busy
    pid = spawn_detached(runner_argv(settings, "policy"), runner_env(environ))  # niced by the runner (REARM_NICE)
    return f"policy handed off to a detached process (pid {pid})"


def prepared_runner(settings: "HookSettings", environ: "Mapping[str, str]") -> str:
    """Start the prepared takeover runner, detached at normal priority, unless one runs already; what was done.

    The runner loads everything a takeover needs and waits on its FIFO for
    :func:`wake_prepared` (:mod:`twinstar.hotplug.prepared`).

    The hook takes ``prepared.lock`` itself and hands it to the runner
    (:data:`INHERITED_LOCK_FD`): the units of one power cut arrive within a
    few ms, before a new interpreter could take it, and each event would start
    a runner that loads everything only to find the first one there.
    """
    fd = claim_runner_lock(settings.state_dir, PREPARED_LOCK)
    if fd is None:
        return ALREADY_PREPARED
    argv = runner_argv(settings, "prepare")
    try:  # without the lock (-1) the runner takes it itself, and its checks report what is wrong
        pid = spawn_detached(argv, runner_env(environ), keep_fd=fd if fd >= 0 else None, run=in_fork(settings, argv))
    finally:
        if fd >= 0:
            posix.close(fd)
    return f"preparing a takeover runner (pid {pid})"


def in_fork(settings: "HookSettings", argv: "list[str]") -> "Callable[[], int] | None":
    """What the detached runner of ``argv`` (:func:`runner_argv`) runs instead of a new interpreter: the
    hook's own entry to it (:attr:`~twinstar.fastpath.hooksettings.HookSettings.fork_runner`), when this
    process runs one thread (a fork copies only the calling one); else None (``argv`` is executed)."""
    here = settings.fork_runner
    threading = sys.modules.get("threading")
    if here is None or (threading is not None and threading.active_count() != 1):
        return None
    return lambda: here(argv[3:])


def claim_runner_lock(state_dir: str, name: str) -> int | None:
    """Take ``state_dir/name`` for a runner at once: its descriptor; None when another process holds it; -1 when
    ``state_dir`` is no private directory of this user (made when missing) or the lock cannot be taken."""
    from twinstar.fastpath.lockprobe import claim
    from twinstar.fastpath.safefile import state_dir_problem

    try:
        try:
            st = posix.lstat(state_dir)
        except FileNotFoundError:  # the first event after an install
            try:
                posix.mkdir(state_dir, 0o700)
            except FileExistsError:  # the hook of another unit's event made it meanwhile: checked as any
                pass
            st = posix.lstat(state_dir)
    except OSError:
        return -1
    return claim(f"{state_dir}/{name}") if state_dir_problem(state_dir, st) is None else -1


def wake_prepared(state_dir: str) -> "tuple[int | None, str | None]":
    """Wake the prepared takeover runner, if one waits: its pid (None: none woken) and a note when its FIFO is unfit.

    The caller holds ``handoff.lock``, under which the runner also reads its
    FIFO at the end of its wait and removes it: a byte written here is
    always read. Only a FIFO owned by this user with mode 0600 is used.
    """
    path = f"{state_dir}/{PREPARED_FIFO}"
    try:
        seen = posix.lstat(path)
    except OSError:
        return None, None
    if not _fit(seen):
        return None, f"{path} is not a FIFO of this user with mode 0600: not used"
    try:
        fd = posix.open(path, posix.O_WRONLY | posix.O_NONBLOCK | posix.O_NOFOLLOW | posix.O_CLOEXEC)
    except OSError:  # ENXIO: no runner reads it; ENOENT: gone
        return None, None
    try:
        opened = posix.fstat(fd)
        if not _fit(opened) or (opened.st_dev, opened.st_ino) != (seen.st_dev, seen.st_ino):
            return None, f"{path} changed while opened: not used"
        pid = _read_pid(f"{state_dir}/{PREPARED_PID}")
        if pid is None:
            return None, f"{state_dir}/{PREPARED_PID} is unreadable: the prepared runner not used"
        posix.write(fd, b"1")
    except OSError as exc:
        return None, f"cannot wake the prepared runner: {exc}"
    finally:
        posix.close(fd)
    return pid, None


def _fit(st: "posix.stat_result") -> bool:
    return st.st_mode & 0o170000 == 0o010000 and st.st_mode & 0o7777 == 0o600 and st.st_uid == posix.geteuid()


def _read_pid(path: str) -> int | None:
    """The pid in the regular file ``path``; None for anything else (a FIFO planted there is not opened)."""
    from twinstar.fastpath.safefile import FileRefused, read_regular

    try:
        data = read_regular(path, 32).strip()
    except (OSError, FileRefused):
        return None
    return int(data) if data.isdigit() and int(data) > 0 else None


def spawn_detached(
    argv: "list[str]",
    env: "dict[str, str]",
    *,
    background: bool = False,
    run: "Callable[[], int] | None" = None,
    keep_fd: int | None = None,
) -> int:
    """Start ``argv`` fully detached (double fork, new session, stdio on /dev/null); its pid.

    ``keep_fd`` is passed on as descriptor :data:`INHERITED_LOCK_FD` (a lock
    the process is to hold); every other descriptor but stdio is closed.

    With ``run``, the detached process calls it instead of executing ``argv``
    (same descriptors closed, signals reset, environment ``env``, working
    directory ``/``) and exits with its status: no new interpreter, for a
    caller whose state a fork may copy (one thread, nothing else to finish).

    The intermediate child exits at once and is reaped here, so the caller
    never leaves a zombie, and the process survives the caller's exit.
    ``background`` work (a watchdog re-arm) runs under SCHED_IDLE from before
    its interpreter starts: it gets the CPU only when nothing else wants it,
    so it never delays a takeover that the same burst of events starts.
    """
    read_end, write_end = posix.pipe()
    child = posix.fork()
    if child == 0:  # pragma: no cover - runs in the forked child
        code = 0
        try:
            posix.close(read_end)
            posix.setsid()
            grandchild = posix.fork()
            if grandchild == 0:
                code = 127
                if keep_fd is not None:  # first: it may be a stdio number, which /dev/null replaces next
                    posix.dup2(keep_fd, INHERITED_LOCK_FD)
                    posix.set_inheritable(INHERITED_LOCK_FD, True)
                # Let go of everything inherited (the caller's pipes, udev's
                # stdout/stderr): whoever reads them must not wait for this process.
                devnull = posix.open("/dev/null", posix.O_RDWR)
                for fd in (0, 1, 2):
                    posix.dup2(devnull, fd)
                if run is not None:
                    from twinstar.fastpath import syslogsend

                    syslogsend.forget_connection()  # its descriptor is closed next
                posix.closerange(3 if keep_fd is None else INHERITED_LOCK_FD + 1, 1024)
                import signal

                signal.pthread_sigmask(signal.SIG_SETMASK, [])
                for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGPIPE):
                    signal.signal(sig, signal.SIG_DFL)
                if background:
                    _run_in_background()
                posix.chdir("/")
                if run is None:
                    posix.execve(argv[0], argv, env)
                import os

                os.environ.clear()
                os.environ.update(env)
                code = 1  # if run raises
                code = run()
                if "logging" in sys.modules:  # _exit skips the interpreter's exit handlers
                    sys.modules["logging"].shutdown()
            posix.write(write_end, str(grandchild).encode())
        except BaseException:  # noqa: BLE001 - nothing may escape a forked child
            code = code or 1
        finally:
            posix._exit(code)
    posix.close(write_end)
    data = b""
    while chunk := posix.read(read_end, 64):
        data += chunk
    posix.close(read_end)
    posix.waitpid(child, 0)
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
        posix.sched_setscheduler(0, posix.SCHED_IDLE, posix.sched_param(0))
    except (OSError, AttributeError):
        try:
            posix.setpriority(posix.PRIO_PROCESS, 0, 19)
        except OSError:
            pass
    try:
        fd = posix.open("/proc/self/autogroup", posix.O_WRONLY)
        try:
            posix.write(fd, b"19")
        finally:
            posix.close(fd)
    except OSError:
        pass  # no autogroup scheduling on this kernel
