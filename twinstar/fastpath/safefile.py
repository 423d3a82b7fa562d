"""Read small files without hanging, and tell whether another user could replace a file.

:func:`read_regular` is the one reader of the configuration, ``xpp_order``, the
JSON files of the state directory and the Astribank sysfs attributes: it refuses anything but a regular file (a FIFO
would block, ``/dev/zero`` never ends, a directory is not a file) before and
after opening it, opens with ``O_NONBLOCK`` (and ``O_NOFOLLOW`` unless told to
follow), and reads at most ``limit`` bytes (or, for a log, its last ``limit``
bytes). A sysfs attribute is a regular file
to ``stat`` in the real sysfs as in the fake one, and never longer than a page.

:func:`replaceable` is the StrictModes test (as sshd applies it): a file is
safe when it and every directory above it, along the path as written and
along its resolved path, are owned by root (or the caller) and not writable
by group or others; a sticky directory (``/tmp``) may be writable by others,
since they cannot replace the entries they do not own.

Stdlib only and lean: the udev hook reads through this module, which is why
it calls :mod:`posix` and :mod:`_stat`, the built-in halves of :mod:`os` and
:mod:`stat` (importing :mod:`os` would cost the hook a sixth of a bare
interpreter start).
"""

import _stat as stat
import posix

KIB = 1024
MIB = 1024 * KIB
#: Upper bounds of the files twinstar reads (docs/configuration.md states them).
CONFIG_LIMIT = 4 * MIB
XPP_ORDER_LIMIT = 64 * KIB
ATTRIBUTE_LIMIT = 4 * KIB
#: The journal is read from its end: at most this much of it.
JOURNAL_TAIL = 1 * MIB

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISLNK, "a symbolic link"),
)


class FileRefused(Exception):
    """``path`` cannot be read: ``reason`` says why (a missing file is FileNotFoundError).

    ``mode`` is the file's mode when its kind was refused; ``strerror`` the
    system's word when it could not be opened or read; neither: it is too large.
    """

    def __init__(self, path: str, reason: str, *, mode: int | None = None, strerror: str | None = None) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason
        self.mode = mode
        self.strerror = strerror


def kind(mode: int) -> str:
    """``a regular file``, ``a FIFO``, ``a directory``... for messages."""
    for test, name in _KINDS:
        if test(mode):
            return name
    return "a regular file" if stat.S_ISREG(mode) else "an unknown kind of file"


def state_dir_problem(path: str, st: "posix.stat_result") -> "tuple[str, str] | None":
    """Why ``st`` (``lstat`` of ``path``) is no private directory of this user, and what to do; None when it is."""
    if stat.S_ISLNK(st.st_mode):
        try:
            target = repr(posix.readlink(path))
        except OSError:  # gone or replaced since the lstat
            target = "a target no longer readable"
        try:
            posix.stat(path)
            dangling = ""
        except OSError:
            dangling = "dangling "
        return (
            f"state directory {path} is not a directory but a {dangling}symbolic link to {target}; refusing to follow it",
            "set state_dir to the real directory, or remove the link",
        )
    if not stat.S_ISDIR(st.st_mode):
        return f"state directory {path} is not a directory but {kind(st.st_mode)}", "set state_dir to a directory, or remove what is in the way"
    if st.st_uid != posix.geteuid():
        return f"state directory {path} is owned by uid {st.st_uid}, not by this user", f"remove it or chown it to uid {posix.geteuid()}"
    if st.st_mode & 0o022:
        return (
            f"state directory {path} is writable by group or others (mode {stat.S_IMODE(st.st_mode):04o}): "
            "anyone could replace the node's state or journal",
            f"chmod go-w {path}",
        )
    return None


def read_regular(path: str, limit: int, *, follow: bool = False, tail: bool = False) -> bytes:
    """The contents of the regular file ``path``, at most ``limit`` bytes.

    With ``tail``, a longer file is not refused: its last ``limit`` bytes are
    returned (the first line of them may be cut). FileNotFoundError when it does not exist; :class:`FileRefused` for anything
    else that is wrong (its kind, its size, an open or read error).
    """
    try:
        st = posix.stat(path) if follow else posix.lstat(path)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise FileRefused(path, f"cannot be opened: {exc.strerror}", strerror=exc.strerror) from None
    if not stat.S_ISREG(st.st_mode):  # checked before opening: opening a device can act on it
        raise FileRefused(path, f"is {kind(st.st_mode)}, expected a regular file", mode=st.st_mode)
    flags = posix.O_RDONLY | posix.O_CLOEXEC | posix.O_NONBLOCK | posix.O_NOCTTY | (0 if follow else posix.O_NOFOLLOW)
    try:
        fd = posix.open(path, flags)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise FileRefused(path, f"cannot be opened: {exc.strerror}", strerror=exc.strerror) from None
    try:
        st = posix.fstat(fd)
        if not stat.S_ISREG(st.st_mode):  # replaced between the two looks
            raise FileRefused(path, f"is {kind(st.st_mode)}, expected a regular file", mode=st.st_mode)
        if tail and st.st_size > limit:
            posix.lseek(fd, st.st_size - limit, 0)  # SEEK_SET
        chunks: list[bytes] = []
        total = 0
        while True:
            chunk = posix.read(fd, min(65536, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                if tail:  # it grew while being read
                    return b"".join(chunks)[-limit:]
                raise FileRefused(path, f"is larger than {limit} bytes, the most twinstar reads")
    except OSError as exc:
        raise FileRefused(path, f"cannot be read: {exc.strerror}", strerror=exc.strerror) from None
    finally:
        posix.close(fd)
    return b"".join(chunks)


def exists(path: str) -> bool:
    """``path`` exists (a dangling symlink too), as :func:`os.path.lexists`."""
    try:
        posix.lstat(path)
    except (OSError, ValueError):
        return False
    return True


def _components(path: str) -> list[str]:
    """``/a/b/c`` -> ``["/", "/a", "/a/b", "/a/b/c"]``."""
    import os

    out = ["/"]
    for part in path.strip("/").split("/"):
        if part:
            out.append(os.path.join(out[-1], part))
    return out


def replaceable(path: str) -> str | None:
    """Why a user other than root (and the caller) could replace ``path``; None when none can."""
    import os

    trusted = {0, os.geteuid()}
    path = os.path.abspath(path)
    seen: set[str] = set()
    for p in _components(path) + _components(os.path.realpath(path)):
        if p in seen:
            continue
        seen.add(p)
        try:
            st = os.lstat(p)
        except OSError as exc:
            return f"{p}: cannot check: {exc.strerror}"
        if st.st_uid not in trusted:
            return f"{p} is owned by uid {st.st_uid}, not root"
        if stat.S_ISLNK(st.st_mode):
            continue  # a link's own mode means nothing; its directory and target are checked
        if st.st_mode & 0o022 and not (stat.S_ISDIR(st.st_mode) and st.st_mode & stat.S_ISVTX):
            return f"{p} is writable by group or others (mode {stat.S_IMODE(st.st_mode):04o})"
    return None
