"""The mount table of this process's mount namespace, as the kernel gives it (``/proc/self/mountinfo``).

One line per mount (proc(5))::

    ID PARENT MAJ:MIN ROOT TARGET OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER-OPTIONS

with space, tab, newline and backslash in paths escaped in octal (``\\040``).
Of several mounts on one target, the later line's is on top. Read in-process,
without running a program: the drbd step reads it at its check and again at
its verify, both on a takeover's way.
"""

from __future__ import annotations

from dataclasses import dataclass

from twinstar.errors import BadInputError

MOUNTINFO = "/proc/self/mountinfo"


@dataclass(frozen=True)
class Mount:
    """One mount: where, what (the source as mounted), its type, and the mounted filesystem's device number."""

    target: str
    source: str
    fstype: str
    root: str  # the directory of the filesystem mounted there ("/" unless a bind mount of a part)
    majmin: str  # "major:minor", as st_dev of a file on it
    options: str  # the filesystem's own ("super") options, e.g. "rw,name=systemd" for a named cgroup v1 hierarchy


def unescape(field: str) -> str:
    """Undo the octal escapes (``\\040`` for a space) the table uses in paths."""
    out = []
    i = 0
    while i < len(field):
        if field[i] == "\\" and i + 3 < len(field) and field[i + 1 : i + 4].isdigit():
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def parse(text: str) -> list[Mount]:
    """Every mount in ``text``, in its order (pure); a line without the ``-`` separator and what follows is skipped."""
    found = []
    for line in text.splitlines():
        fields = line.split(" ")
        try:
            end = fields.index("-", 6)  # after the optional fields
        except ValueError:
            continue
        if len(fields) < end + 3:
            continue
        options = fields[end + 3] if len(fields) > end + 3 else ""
        found.append(Mount(unescape(fields[4]), unescape(fields[end + 2]), fields[end + 1], unescape(fields[3]), fields[2], options))
    return found


def read(mountinfo: str = MOUNTINFO) -> list[Mount]:
    """The table at ``mountinfo`` (another process's: ``/proc/PID/mountinfo``); BadInputError when unreadable."""
    try:
        with open(mountinfo, encoding="utf-8", errors="surrogateescape") as f:
            text = f.read()
    except OSError as exc:
        raise BadInputError(f"cannot read {mountinfo}: {exc.strerror}") from None
    return parse(text)


def mount_points(mountinfo: str = MOUNTINFO) -> set[str]:
    """Every mount point of the table."""
    return {m.target for m in read(mountinfo)}


def is_mounted(path: str, *, mountinfo: str = MOUNTINFO) -> bool:
    """True when ``path`` (already canonical) is a mount point."""
    return on(path, mountinfo) is not None


def on(target: str, mountinfo: str = MOUNTINFO) -> Mount | None:
    """The mount seen at ``target`` (a canonical path): the last one there; None when nothing is mounted on it."""
    found = None
    for mount in read(mountinfo):
        if mount.target == target:
            found = mount
    return found
