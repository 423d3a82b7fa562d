"""The one way twinstar runs an external program.

argv only, never a shell. Each program runs in its own process group with a
sanitised environment (fixed PATH, ``LC_ALL=C``); its output goes to
anonymous in-memory files (memfd) rather than pipes, so a daemon that inherits
them cannot make us wait. When the timeout passes, the whole group gets SIGTERM, then SIGKILL
after a grace period, and :class:`ProgramTimeout` is raised.

The runner reports what happened; the caller, which knows what an exit
status means, decides whether it is a failure (``ok_codes``).
"""

from __future__ import annotations

import io
import logging
import os
import select
import shlex
import signal
import subprocess
import threading
import time
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import KW_ONLY, dataclass, field
from types import FrameType

from twinstar import settings
from twinstar.errors import ProgramError, ProgramTimeout

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

log = logging.getLogger("twinstar.proc")

DEFAULT_GRACE = 2.0


@dataclass(frozen=True)
class ProgramResult:
    """What a finished program did."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    duration: float

    @property
    def output(self) -> str:
        """stdout and stderr together, stripped, for messages."""
        return "\n".join(p for p in (self.stdout.strip(), self.stderr.strip()) if p)


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment every program gets: fixed PATH, C locale, and ``extra``."""
    env = {"PATH": settings.SAFE_PATH, "LC_ALL": "C", "LANG": "C"}
    if extra:
        env.update(extra)
    return env


def _describe(argv: Sequence[str], rc: int | None, out: str, err: str) -> str:
    parts = [shlex.join(argv)]
    if rc is not None:
        parts.append(f"exited with status {rc}" if rc >= 0 else f"killed by signal {-rc}")
    for label, text in (("stdout", out), ("stderr", err)):
        text = text.strip()
        if text:
            last = text.splitlines()[-1]
            parts.append(f"{label}: {last}")
    return "; ".join(parts)


@contextmanager
def signals_held() -> Iterator[None]:
    """SIGINT and SIGTERM arriving inside the block take effect when it ends (main thread only).

    An undo action cut short by Ctrl-C would leave its resource behind; the
    signal is recorded instead and raised again, to the handler in force
    before the block, once the block is done.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []

    def hold(signum: int, frame: FrameType | None) -> None:
        held.append(signum)

    old = {s: signal.signal(s, hold) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in old.items():
            if h is not None:
                signal.signal(s, h)
        if held:
            signal.raise_signal(held[0])


def _kill_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


class _Popen(subprocess.Popen[bytes]):
    """A Popen whose interrupted start leaves no program behind.

    A SIGINT or SIGTERM turned into an exception between the fork and the
    constructor's return (while it waits for the exec) would leave the child
    running with nobody to end it: a cleanup that ran meanwhile (a demo's
    Ctrl-C) could be undone by it afterwards. Its group (a session of its own)
    is killed and the child reaped before the exception goes on.
    """

    def _execute_child(self, *args: Any, **kwargs: Any) -> None:
        try:
            super()._execute_child(*args, **kwargs)  # type: ignore[misc]
        except OSError:
            raise  # the program could not start; Popen has reaped its child
        except BaseException:
            pid = getattr(self, "pid", None)
            if pid:
                _kill_group(pid, signal.SIGKILL)
                try:
                    os.waitpid(pid, 0)
                except ChildProcessError:
                    pass
            raise


def _output_file() -> io.BufferedRandom:
    """Where a program's stdout or stderr goes: an anonymous file in memory, gone when closed."""
    return open(os.memfd_create("twinstar-output", os.MFD_CLOEXEC), "w+b")


def _read(f: io.BufferedRandom) -> str:
    f.seek(0)
    return f.read().decode("utf-8", "replace")


def wait_exit(proc: subprocess.Popen[bytes], timeout: float) -> int:
    """``proc``'s exit status, woken by its exit; :class:`subprocess.TimeoutExpired` after ``timeout``.

    ``Popen.wait(timeout)`` polls with sleeps doubling up to 50 ms, which
    notices a program that ran 20 ms only after about 30 ms; a pidfd becomes
    readable the moment the program exits.
    """
    try:
        pidfd = os.pidfd_open(proc.pid)
    except OSError:  # a kernel without pidfd_open (before 5.3)
        return proc.wait(timeout=timeout)
    try:
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        if not poller.poll(max(0.0, timeout) * 1000):
            raise subprocess.TimeoutExpired(proc.args, timeout)
    finally:
        os.close(pidfd)
    return proc.wait()


#: The niceness of work started beside a takeover that its steps do not wait for (checks started early,
#: the detached ARP sender's start): it gets the CPU the takeover's critical path leaves.
BACKGROUND_NICE = 10


def set_niceness(niceness: int = BACKGROUND_NICE, *, tid: int | None = None) -> None:
    """Give the thread ``tid`` (default: the calling one; a process's pid names its main thread) ``niceness``.

    Linux: a thread has its own niceness, and the threads and programs it
    starts inherit it. Not permitted (a lower niceness than now) or gone: it
    runs as it is.
    """
    import threading

    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id() if tid is None else tid, niceness)
    except OSError:
        pass


def which(name: str) -> str | None:
    """The executable ``name`` on the fixed PATH, found as ``shutil.which`` finds it.

    ``shutil`` (with ``tempfile``) would import bz2, lzma and more into every
    takeover for this one lookup.
    """
    for directory in settings.SAFE_PATH.split(os.pathsep):
        path = os.path.join(directory, name)
        if os.access(path, os.X_OK) and not os.path.isdir(path):
            return path
    return None


@dataclass
class ProgramRunner:
    """Runs programs by name or path, with the operator's ``programs:`` overrides.

    ``argv[0]`` without a slash is a program name: it is looked up in
    ``programs`` first, then on the fixed PATH.
    """

    _: KW_ONLY
    programs: Mapping[str, str] = field(default_factory=dict)
    grace: float = DEFAULT_GRACE
    env_extra: Mapping[str, str] = field(default_factory=dict)

    def resolve(self, name: str) -> str:
        """Absolute path of program ``name``, or :class:`ProgramError`."""
        if "/" in name:
            if os.access(name, os.X_OK) and os.path.isfile(name):
                return name
            raise ProgramError(
                f"program {name} does not exist or is not executable",
                argv=(name,),
                hint="install it or fix its path under programs: in the configuration",
            )
        configured = self.programs.get(name)
        if configured is not None:
            return self.resolve(configured)
        found = which(name)
        if found is None:
            raise ProgramError(
                f"program {name} not found in {settings.SAFE_PATH}",
                argv=(name,),
                hint=f"install it or set programs: {{{name}: /absolute/path}} in the configuration",
            )
        return found

    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float,
        ok_codes: Collection[int] | None = (0,),
        input: str | None = None,
        env: Mapping[str, str] | None = None,
        quiet: bool = False,
    ) -> ProgramResult:
        """Run ``argv`` and wait at most ``timeout`` seconds.

        Raises :class:`ProgramTimeout` when the timeout passed (the process
        group is gone by then) and :class:`ProgramError` when the program
        cannot start or, unless ``ok_codes`` is None, exits with another status.
        """
        if not argv:
            raise ProgramError("empty command line")
        resolved = (self.resolve(argv[0]), *argv[1:])
        full_env = clean_env({**self.env_extra, **(env or {})})
        if not quiet:
            log.info("run: %s", shlex.join(resolved))
        start = time.monotonic()
        with _output_file() as out, _output_file() as err:
            proc: _Popen | None = None
            try:
                # A signal during the start is acted on once the child is known: turned into an exception
                # between the fork and Popen storing the child's pid, it would leave the program running.
                with signals_held():
                    try:
                        proc = _Popen(
                            resolved,
                            stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                            stdout=out,
                            stderr=err,
                            env=full_env,
                            close_fds=True,
                            start_new_session=True,
                            cwd="/",
                        )
                    except OSError as exc:
                        raise ProgramError(
                            f"cannot run {shlex.join(resolved)}: {exc.strerror}", argv=resolved
                        ) from exc
                if input is not None:
                    assert proc.stdin is not None
                    try:
                        proc.stdin.write(input.encode())
                        proc.stdin.close()
                    except BrokenPipeError:
                        pass
                rc = wait_exit(proc, timeout)
            except subprocess.TimeoutExpired:
                assert proc is not None  # only its wait times out
                self._terminate(proc)
                so, se = _read(out), _read(err)
                raise ProgramTimeout(
                    f"{shlex.join(resolved)} did not finish within {timeout:g} s; "
                    "its process group was killed",
                    argv=resolved,
                    stdout=so,
                    stderr=se,
                ) from None
            except BaseException:
                # Interrupted while waiting (the engine turns SIGTERM/SIGINT into an
                # exception): the program must not outlive the step that started it.
                if proc is not None:
                    self._terminate(proc)
                raise
            result = ProgramResult(resolved, rc, _read(out), _read(err), time.monotonic() - start)
        if ok_codes is not None and rc not in ok_codes:
            raise ProgramError(
                _describe(resolved, rc, result.stdout, result.stderr),
                argv=resolved,
                returncode=rc,
                stdout=result.stdout,
                stderr=result.stderr,
            )
        return result

    def _terminate(self, proc: subprocess.Popen[bytes]) -> None:
        """SIGTERM the program's group, then SIGKILL it after the grace period."""
        pgid = proc.pid  # start_new_session: the group id is the leader's pid
        _kill_group(pgid, signal.SIGTERM)
        deadline = time.monotonic() + self.grace
        while time.monotonic() < deadline:
            if proc.poll() is not None and not _group_alive(pgid):
                return
            time.sleep(0.02)
        _kill_group(pgid, signal.SIGKILL)
        proc.wait()
        # Members of the group may be children of the leader, now reparented;
        # wait briefly until the kernel has removed them.
        deadline = time.monotonic() + 1.0
        while _group_alive(pgid) and time.monotonic() < deadline:
            time.sleep(0.01)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
