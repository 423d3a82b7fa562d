"""The node's state on disk: ``state_dir`` with the lock, ``state.json`` and the journal.

``state.json`` says which role the node is in and, while a takeover or
release runs, which process runs it (pid, start time, boot id); a role of
``starting``/``stopping`` whose process is gone means that transition was
interrupted. :mod:`twinstar.fastpath.statefile` reads it, for the hook too. The journal
is one JSON object per line, one line per step event. Files are opened with
O_NOFOLLOW and replaced atomically, so a crash leaves the old or the new
content, never a mix, and a planted symlink is refused. The lock and the
journal must be regular files with a single link (a planted hard link is
never truncated or appended to); every failed write is a StateError.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import stat
import time
from dataclasses import asdict, dataclass, field
from enum import StrEnum

from twinstar import settings, words
from twinstar.errors import LockBusyError, StateDirError, StateError
from twinstar.fastpath import procid, safefile, statefile
from twinstar.fastpath.atomic import replace_file

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class Role(StrEnum):
    STANDBY = words.STANDBY
    STARTING = words.STARTING
    ACTIVE = words.ACTIVE
    STOPPING = words.STOPPING
    FAILED = words.FAILED


@dataclass(frozen=True)
class NodeState:
    """What ``state.json`` holds.

    ``pid``, ``pid_start`` and ``boot_id`` name the process running a
    transition (:mod:`twinstar.fastpath.procid`); ``since`` is when the role was
    entered on the wall clock, ``since_boot`` on the boot clock of ``boot_id``.
    """

    role: Role = Role.STANDBY
    pid: int | None = None
    since: float = 0.0
    last_transition: dict[str, Any] | None = None
    node: str = ""
    pid_start: int | None = None
    boot_id: str = ""
    since_boot: float | None = None

    @classmethod
    def now(
        cls, role: Role, *, since: float, running: bool = False, last_transition: dict[str, Any] | None = None, node: str = ""
    ) -> NodeState:
        """The state to write now: stamped with the boot clock and, while ``running`` a transition, this process's identity."""
        pid, start, boot = procid.identity(os.getpid())
        return cls(
            role=role,
            pid=pid if running else None,
            pid_start=start if running else None,
            boot_id=boot,
            since=since,
            since_boot=procid.boottime(),
            last_transition=last_transition,
            node=node,
        )

    @property
    def in_transition(self) -> bool:
        return self.role in (Role.STARTING, Role.STOPPING)

    def interrupted(self) -> bool:
        """A transition whose process is gone: it was killed half-way (a reused pid does not count)."""
        return self.in_transition and not procid.process_alive(self.pid, self.pid_start, self.boot_id)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["role"] = self.role.value
        return d


def pid_alive(pid: int | None) -> bool:
    """Process ``pid`` exists and is not a zombie (:func:`twinstar.fastpath.procid.process_alive` without its identity)."""
    return procid.process_alive(pid)


def ensure_dir(path: str) -> None:
    """Create ``state_dir`` (mode 0700) or check that it is a real, private directory.

    A ``state_dir`` that is not a directory (a file, a symlink, dangling or
    not), or that others own or may write, is bad input: StateDirError (exit 2),
    nothing created.
    """
    try:
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            os.makedirs(path, mode=0o700, exist_ok=True)
            st = os.lstat(path)
    except OSError as exc:
        if exc.errno in (errno.EEXIST, errno.ENOTDIR, errno.ELOOP):
            raise StateDirError(
                f"cannot create state directory {path}: {exc.strerror} (a file or symlink is in the way)",
                hint="set state_dir to a directory, or remove what is in the way",
            ) from None
        raise StateError(f"cannot create state directory {path}: {exc.strerror}") from None
    check_state_dir(path, st)


def check_state_dir(path: str, st: os.stat_result) -> None:
    """Raise StateDirError unless ``st`` (``lstat`` of ``path``) is a private directory of this user."""
    if stat.S_ISLNK(st.st_mode):
        dangling = "" if os.path.exists(path) else "dangling "
        raise StateDirError(
            f"state directory {path} is not a directory but a {dangling}symlink to {os.readlink(path)!r}; refusing to follow it",
            hint="set state_dir to the real directory, or remove the link",
        )
    if not stat.S_ISDIR(st.st_mode):
        raise StateDirError(
            f"state directory {path} is not a directory but {_kind(st.st_mode)}",
            hint="set state_dir to a directory, or remove what is in the way",
        )
    if st.st_uid != os.geteuid():
        raise StateDirError(
            f"state directory {path} is owned by uid {st.st_uid}, not by this user",
            hint=f"remove it or chown it to uid {os.geteuid()}",
        )
    if st.st_mode & 0o022:
        raise StateDirError(
            f"state directory {path} is writable by group or others (mode {stat.S_IMODE(st.st_mode):04o}): "
            "anyone could replace the node's state or journal",
            hint=f"chmod go-w {path}",
        )


def _kind(mode: int) -> str:
    """What a file of ``mode`` is, in words."""
    for test, word in (
        (stat.S_ISREG, "a regular file"),
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISLNK, "a symlink"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return word
    return "a special file"


def _check_private(fd: int, path: str) -> None:
    """Refuse an open state file that is not a regular file with one link (a planted hard link or FIFO)."""
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise StateError(f"{path} is {_kind(st.st_mode)}, not a regular file; refusing to use it", hint="remove it")
    if st.st_nlink > 1:
        os.close(fd)
        raise StateError(
            f"{path} has {st.st_nlink} hard links; refusing to write a file that is also elsewhere",
            hint="remove it; twinstar creates it again",
        )


def _open_nofollow(path: str, flags: int, mode: int = 0o600) -> int:
    """Open a file in ``state_dir``: never through a symlink, never blocking on a FIFO."""
    try:
        return os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise StateError(f"{path} is a symlink; refusing to follow it", hint="remove it") from None
        raise StateError(f"cannot open {path}: {exc.strerror}") from None


def _open_private(path: str, flags: int) -> int:
    """Open (or create, mode 0600) a state file that must be a regular file with one link."""
    fd = _open_nofollow(path, flags)
    _check_private(fd, path)
    return fd


def _write_all(fd: int, data: bytes, path: str) -> None:
    """Write all of ``data``; a failure (ENOSPC, EROFS, EIO) is a StateError naming ``path``."""
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    except OSError as exc:
        raise StateError(f"cannot write {path}: {exc.strerror}") from None


def marker_exists(path: str) -> bool:
    """Whether the marker file ``path`` exists; a symlink or anything but a regular file is refused."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise StateError(f"cannot read {path}: {exc.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise StateError(f"{path} is {_kind(st.st_mode)}, not a regular file; refusing to use it", hint="remove it")
    return True


def create_marker(path: str, data: bytes) -> None:
    """Create the marker file ``path`` (mode 0600) holding ``data``; it must not exist yet.

    Never follows a symlink and never opens an existing file; a marker that
    cannot be written whole is removed again and is a StateError.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except FileExistsError:
        raise StateError(f"{path} exists already (a file or symlink is in the way)", hint="remove it") from None
    except OSError as exc:
        raise StateError(f"cannot create {path}: {exc.strerror}") from None
    try:
        _write_all(fd, data, path)
    except StateError:
        os.close(fd)
        os.unlink(path)
        raise
    os.close(fd)


def read_json(path: str) -> dict[str, Any] | None:
    """A JSON object from ``path``, or None when the file does not exist (:func:`twinstar.fastpath.statefile.read_object`)."""
    return statefile.read_object(path)


def write_json(path: str, value: dict[str, Any]) -> None:
    """Replace ``path`` atomically with ``value`` (mode 0600, one line).

    The directory is not synced: these writes sit on the takeover's critical
    path, ``state_dir`` is a tmpfs by default, and an old state file after a
    power cut is recovered like any interrupted transition, from the real state.
    """
    try:
        replace_file(path, json.dumps(value, sort_keys=True).encode() + b"\n", mode=0o600, sync_dir=False)
    except OSError as exc:
        raise StateError(f"cannot write {path}: {exc.strerror}") from None


@dataclass
class StateStore:
    """``state_dir`` and what it holds."""

    directory: str

    @property
    def state_path(self) -> str:
        return os.path.join(self.directory, settings.STATE_FILE)

    @property
    def journal_path(self) -> str:
        return os.path.join(self.directory, settings.JOURNAL_FILE)

    @property
    def lock_path(self) -> str:
        return os.path.join(self.directory, settings.LOCK_FILE)

    def read(self) -> NodeState:
        raw = read_json(self.state_path)
        if raw is None:
            return NodeState()
        view = statefile.parse_node(raw, self.state_path)
        return NodeState(
            role=Role(view.role),
            pid=view.pid,
            since=view.since,
            last_transition=view.last_transition,
            node=view.node,
            pid_start=view.pid_start,
            boot_id=view.boot_id,
            since_boot=view.since_boot,
        )

    def write(self, state: NodeState) -> None:
        ensure_dir(self.directory)
        write_json(self.state_path, state.to_json())

    def journal(self, record: dict[str, Any]) -> None:
        """Append one event to the journal (a single write: never interleaved).

        Any failure (a full or read-only ``state_dir``) is a StateError; a line
        that fits only in part is cut off again, so the journal never holds a
        torn line that would swallow the next one.
        """
        ensure_dir(self.directory)
        line = json.dumps(record, sort_keys=True).encode() + b"\n"
        fd = _open_private(self.journal_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        try:
            try:
                written = os.write(fd, line)
            except OSError as exc:
                raise StateError(f"cannot write {self.journal_path}: {exc.strerror}") from None
            if written < len(line):
                end = os.lseek(fd, 0, os.SEEK_CUR)
                try:
                    if os.fstat(fd).st_size == end:  # nobody appended after the torn line
                        os.ftruncate(fd, end - written)
                except OSError:
                    pass
                raise StateError(f"cannot write {self.journal_path}: {os.strerror(errno.ENOSPC)}")
        finally:
            os.close(fd)

    def read_journal(self, last: int | None = None) -> list[dict[str, Any]]:
        """The journal's records (the ``last`` ones), from at most its last MiB.

        A journal that is not a regular file (a symlink, a FIFO) is a StateError.
        """
        limit = safefile.JOURNAL_TAIL
        try:
            data = safefile.read_regular(self.journal_path, limit, tail=True)
        except FileNotFoundError:
            return []
        except safefile.FileRefused as exc:
            raise StateError(str(exc), hint="remove it; twinstar starts a new journal") from None
        if len(data) >= limit:
            data = data[data.find(b"\n") + 1 :]  # the first line may be the end of a longer one
        lines = data.splitlines()
        out = []
        for line in lines[-last:] if last else lines:
            try:
                out.append(json.loads(line))
            except ValueError:
                continue  # a torn last line after a power cut
        return out


def wait_flock(fd: int, *, timeout: float, poll: float = 0.02) -> bool:
    """Take an exclusive flock(2) on ``fd``, waiting at most ``timeout`` seconds; False if not."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(poll)


@dataclass
class FileLock:
    """An exclusive flock(2) on a file in ``state_dir``; released when the process dies.

    ``with FileLock(path, timeout=...):`` takes the lock (waiting at most
    ``timeout`` seconds, 0 = not at all; :class:`~twinstar.errors.LockBusyError`
    when another process keeps it) and releases it at the end of the block.
    """

    path: str
    timeout: float = field(default=0.0, kw_only=True)
    fd: int | None = field(default=None, init=False)

    def acquire(self, *, timeout: float, poll: float = 0.02) -> None:
        """Take the lock, waiting at most ``timeout`` seconds (0 = do not wait)."""
        ensure_dir(os.path.dirname(self.path))
        fd = _open_private(self.path, os.O_RDWR | os.O_CREAT)
        if not wait_flock(fd, timeout=timeout, poll=poll):
            os.close(fd)
            raise LockBusyError(
                f"another twinstar process holds {self.path} (waited {timeout:g} s)",
                hint="wait for it to finish; see the journal in the state directory",
            )
        try:
            try:
                os.ftruncate(fd, 0)
            except OSError as exc:
                raise StateError(f"cannot write {self.path}: {exc.strerror}") from None
            _write_all(fd, f"{os.getpid()}\n".encode(), self.path)
        except StateError:
            os.close(fd)
            raise
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def held_by_other(self) -> bool:
        """True when another process holds the lock right now (does not take it)."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False

    def __enter__(self) -> FileLock:
        self.acquire(timeout=self.timeout)
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
