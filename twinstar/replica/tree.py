"""Copy a file tree exactly, and prove a copy matches its original.

The copy keeps what a PBX's configuration and data depend on: file types
(directories, regular files, symlinks, FIFOs, device nodes, sockets), owners,
permission bits (set-id bits too), extended attributes (ACLs are xattrs),
access and modification times, and hard links inside the tree. Every regular
file is fsync'ed and dropped from the page cache, so the comparison that
follows reads what the disk holds.

:func:`compare_trees` walks two trees side by side and lists every difference
in type, mode, owner, size, content (byte by byte), symlink text, device
number, xattrs, modification time, names, and hard-link structure. A move only
goes ahead when it finds none.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field

from twinstar.errors import BadInputError

CHUNK = 1 << 20

#: How many differences :func:`compare_trees` reports at most.
MAX_DIFFERENCES = 20


@dataclass
class CopyStats:
    """What a copy wrote."""

    entries: int = 0
    bytes: int = 0


@dataclass
class _Copier:
    root_dev: int
    on_file: Callable[[], None] | None
    stats: CopyStats = field(default_factory=CopyStats)
    inodes: dict[tuple[int, int], str] = field(default_factory=dict)

    def copy(self, src: str, dst: str, st: os.stat_result) -> None:
        if st.st_dev != self.root_dev:
            raise BadInputError(
                f"{src}: is a mount point inside the tree being moved",
                hint="unmount it or move the mounted directory separately",
            )
        mode = st.st_mode
        self.stats.entries += 1
        if not stat.S_ISDIR(mode) and st.st_nlink > 1:
            first = self.inodes.get((st.st_dev, st.st_ino))
            if first is not None:
                os.link(first, dst)
                return
            self.inodes[(st.st_dev, st.st_ino)] = dst
        if stat.S_ISDIR(mode):
            os.mkdir(dst, 0o700)
            for name in sorted(os.listdir(src)):
                s, d = os.path.join(src, name), os.path.join(dst, name)
                self.copy(s, d, os.lstat(s))
            _apply_metadata(src, dst, st)
        elif stat.S_ISREG(mode):
            self._copy_file(src, dst, st)
        elif stat.S_ISLNK(mode):
            os.symlink(os.readlink(src), dst)
            _apply_metadata(src, dst, st)
        elif stat.S_ISFIFO(mode):
            os.mkfifo(dst, 0o600)
            _apply_metadata(src, dst, st)
        elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISSOCK(mode):
            os.mknod(dst, stat.S_IFMT(mode) | 0o600, st.st_rdev)
            _apply_metadata(src, dst, st)
        else:  # pragma: no cover - Linux has no other file types
            raise BadInputError(f"{src}: unsupported file type {stat.S_IFMT(mode):o}")

    def _copy_file(self, src: str, dst: str, st: os.stat_result) -> None:
        fin = os.open(src, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            fout = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            try:
                while True:
                    data = os.read(fin, CHUNK)
                    if not data:
                        break
                    view = memoryview(data)
                    while view:
                        n = os.write(fout, view)
                        view = view[n:]
                    self.stats.bytes += len(data)
                os.fsync(fout)
                os.posix_fadvise(fout, 0, 0, os.POSIX_FADV_DONTNEED)
                _apply_metadata(src, fout, st, xattr_source=fin)
            finally:
                os.close(fout)
        finally:
            os.close(fin)
        if self.on_file is not None:
            self.on_file()


def _apply_metadata(
    src: str, dst: str | int, st: os.stat_result, *, xattr_source: str | int | None = None
) -> None:
    """Owner, then mode (chown clears set-id bits), then xattrs (chown drops capabilities), then times.

    ``dst`` is a path (never followed when it is a symlink) or an open fd.
    """
    is_link = stat.S_ISLNK(st.st_mode)
    follow = not is_link
    times = (st.st_atime_ns, st.st_mtime_ns)
    if isinstance(dst, int):
        os.fchown(dst, st.st_uid, st.st_gid)
        os.fchmod(dst, stat.S_IMODE(st.st_mode))
    else:
        os.chown(dst, st.st_uid, st.st_gid, follow_symlinks=follow)
        if not is_link:
            os.chmod(dst, stat.S_IMODE(st.st_mode))
    source = src if xattr_source is None else xattr_source
    for name, value in read_xattrs(source, follow=follow).items():
        try:
            if isinstance(dst, int):
                os.setxattr(dst, name, value)
            else:
                os.setxattr(dst, name, value, follow_symlinks=follow)
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise
            raise OSError(exc.errno, f"cannot copy extended attribute {name} of {src}: {exc.strerror}") from None
    if isinstance(dst, int):
        os.utime(dst, ns=times)
    else:
        os.utime(dst, ns=times, follow_symlinks=follow)


def read_xattrs(path: str | int, *, follow: bool = False) -> dict[str, bytes]:
    """Every extended attribute of ``path`` (a path or an open fd)."""
    try:
        if isinstance(path, int):
            names = os.listxattr(path)
            return {n: os.getxattr(path, n) for n in names}
        names = os.listxattr(path, follow_symlinks=follow)
        return {n: os.getxattr(path, n, follow_symlinks=follow) for n in names}
    except OSError as exc:
        if exc.errno in (errno.ENOTSUP, errno.EOPNOTSUPP):
            return {}
        raise


def copy_tree(src: str, dst: str, *, on_file: Callable[[], None] | None = None) -> CopyStats:
    """Copy ``src`` (a directory or any single file) to the new name ``dst``.

    ``on_file`` is called after each regular file is written (progress, fault
    injection). Raises :class:`OSError` on any failure (ENOSPC included) and
    :class:`BadInputError` when the tree crosses into another filesystem;
    the caller removes the incomplete copy.
    """
    st = os.lstat(src)
    copier = _Copier(root_dev=st.st_dev, on_file=on_file)
    copier.copy(src, dst, st)
    return copier.stats


# --- comparison ------------------------------------------------------------------------


@dataclass
class _Comparer:
    differences: list[str] = field(default_factory=list)
    links: dict[tuple[int, int], tuple[int, int]] = field(default_factory=dict)

    def note(self, rel: str, what: str) -> None:
        if len(self.differences) < MAX_DIFFERENCES:
            self.differences.append(f"{rel}: {what}")
        else:
            raise _TooMany

    def compare(self, a: str, b: str, rel: str) -> None:
        try:
            sa = os.lstat(a)
        except FileNotFoundError:
            self.note(rel, "missing from the original")
            return
        try:
            sb = os.lstat(b)
        except FileNotFoundError:
            self.note(rel, "missing from the copy")
            return
        if stat.S_IFMT(sa.st_mode) != stat.S_IFMT(sb.st_mode):
            self.note(rel, f"type {stat.S_IFMT(sa.st_mode):o} != {stat.S_IFMT(sb.st_mode):o}")
            return
        is_link = stat.S_ISLNK(sa.st_mode)
        if not is_link and stat.S_IMODE(sa.st_mode) != stat.S_IMODE(sb.st_mode):
            self.note(rel, f"mode {stat.S_IMODE(sa.st_mode):04o} != {stat.S_IMODE(sb.st_mode):04o}")
        if (sa.st_uid, sa.st_gid) != (sb.st_uid, sb.st_gid):
            self.note(rel, f"owner {sa.st_uid}:{sa.st_gid} != {sb.st_uid}:{sb.st_gid}")
        if sa.st_mtime_ns != sb.st_mtime_ns:
            self.note(rel, f"modification time {sa.st_mtime_ns} != {sb.st_mtime_ns}")
        if read_xattrs(a, follow=not is_link) != read_xattrs(b, follow=not is_link):
            self.note(rel, "extended attributes differ")
        if not stat.S_ISDIR(sa.st_mode) and sa.st_nlink > 1:
            key = (sa.st_dev, sa.st_ino)
            seen = self.links.setdefault(key, (sb.st_dev, sb.st_ino))
            if seen != (sb.st_dev, sb.st_ino):
                self.note(rel, "hard link not preserved")
        if stat.S_ISDIR(sa.st_mode):
            names_a, names_b = set(os.listdir(a)), set(os.listdir(b))
            for name in sorted(names_a ^ names_b):
                self.note(os.path.join(rel, name), "only in the " + ("original" if name in names_a else "copy"))
            for name in sorted(names_a & names_b):
                self.compare(os.path.join(a, name), os.path.join(b, name), os.path.join(rel, name))
        elif stat.S_ISREG(sa.st_mode):
            if sa.st_size != sb.st_size:
                self.note(rel, f"size {sa.st_size} != {sb.st_size}")
            elif not same_content(a, b):
                self.note(rel, "content differs")
        elif is_link:
            if os.readlink(a) != os.readlink(b):
                self.note(rel, f"symlink text {os.readlink(a)!r} != {os.readlink(b)!r}")
        elif (stat.S_ISCHR(sa.st_mode) or stat.S_ISBLK(sa.st_mode)) and sa.st_rdev != sb.st_rdev:
            self.note(rel, f"device number {sa.st_rdev} != {sb.st_rdev}")


class _TooMany(Exception):
    pass


def same_content(a: str, b: str) -> bool:
    """Byte-by-byte equality of two regular files."""
    fa = os.open(a, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        fb = os.open(b, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            while True:
                da, db = os.read(fa, CHUNK), os.read(fb, CHUNK)
                if da != db:
                    return False
                if not da:
                    return True
        finally:
            os.close(fb)
    finally:
        os.close(fa)


def compare_trees(original: str, copy: str) -> list[str]:
    """Every difference between two trees (at most :data:`MAX_DIFFERENCES`); empty when equal."""
    comparer = _Comparer()
    try:
        comparer.compare(original, copy, ".")
    except _TooMany:
        comparer.differences.append("... (more differences not listed)")
    return comparer.differences
