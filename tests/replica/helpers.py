"""Helpers for the replica tests: a rich sample tree, an independent snapshot, the real CLI."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
from pathlib import Path

from tests.conftest import PYTHON, REPO

SAMPLE_MTIME_NS = 1_600_000_000_123_456_789


def build_sample_tree(root: Path) -> None:
    """A configuration directory with what a move must preserve."""
    root.mkdir(parents=True)
    (root / "sip.conf").write_text("[general]\ncontext=default\n")
    (root / "secret.conf").write_text("password=s3cret\n")
    os.chmod(root / "secret.conf", 0o600)
    os.chown(root / "secret.conf", 1234, 5678)
    (root / "empty").write_bytes(b"")
    (root / "big.bin").write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    sub = root / "keys"
    sub.mkdir()
    os.chown(sub, 1234, 5678)
    os.chmod(sub, 0o2750)
    (sub / "key.pem").write_text("-----BEGIN KEY-----\n")
    os.chown(sub / "key.pem", 65534, 65534)
    os.chmod(sub / "key.pem", 0o4640)
    (root / "relative-link").symlink_to("sip.conf")
    (root / "absolute-link").symlink_to("/etc/hostname")
    (root / "dangling-link").symlink_to("no/such/file")
    os.chown(root / "relative-link", 1234, 5678, follow_symlinks=False)
    os.mkfifo(root / "control.fifo", 0o620)
    os.mknod(root / "null-device", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    os.mknod(root / "agi.sock", stat.S_IFSOCK | 0o660)
    os.link(root / "sip.conf", root / "sip-hardlink.conf")
    os.setxattr(root / "sip.conf", "user.twinstar.note", b"keep me")
    os.setxattr(root, "user.twinstar.dir", b"directory attribute")
    (root / "n\udcffn-utf8-name").write_text("odd name\n")
    deep = root / "a" / "b" / "c"
    deep.mkdir(parents=True)
    (deep / "deep.txt").write_text("deep\n")
    for dirpath, dirnames, filenames in os.walk(root, topdown=False):
        for name in filenames + dirnames:
            os.utime(os.path.join(dirpath, name), ns=(SAMPLE_MTIME_NS, SAMPLE_MTIME_NS), follow_symlinks=False)
    os.utime(root, ns=(SAMPLE_MTIME_NS, SAMPLE_MTIME_NS))


def snapshot(root: str | Path) -> dict[str, tuple[object, ...]]:
    """Everything a move must keep, per relative path, written independently of the code under test."""
    root = os.path.realpath(root)
    out: dict[str, tuple[object, ...]] = {}
    inode_groups: dict[tuple[int, int], str] = {}

    def visit(path: str, rel: str) -> None:
        st = os.lstat(path)
        mode = st.st_mode
        link = os.readlink(path) if stat.S_ISLNK(mode) else None
        digest = None
        if stat.S_ISREG(mode):
            with open(path, "rb") as f:
                digest = hashlib.sha256(f.read()).hexdigest()
        try:
            xattrs = tuple(sorted((n, os.getxattr(path, n, follow_symlinks=False)) for n in os.listxattr(path, follow_symlinks=False)))
        except OSError:
            xattrs = ()
        group = None
        if not stat.S_ISDIR(mode) and st.st_nlink > 1:
            group = inode_groups.setdefault((st.st_dev, st.st_ino), rel)
        rdev = st.st_rdev if (stat.S_ISCHR(mode) or stat.S_ISBLK(mode)) else None
        out[rel] = (stat.S_IFMT(mode), stat.S_IMODE(mode), st.st_uid, st.st_gid, st.st_mtime_ns, st.st_size if digest else None, digest, link, rdev, xattrs, group)
        if stat.S_ISDIR(mode):
            for name in sorted(os.listdir(path)):
                visit(os.path.join(path, name), os.path.join(rel, name))

    visit(root, ".")
    return out


def twinstar(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real command line in a child process."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("TWINSTAR_")}
    full_env.update(env or {})
    return subprocess.run(
        [PYTHON, "-c", "from twinstar.cli import main; main()", *args],
        cwd=REPO,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
