"""Helpers for the replica tests: a rich sample tree, an independent snapshot, the real CLI."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
from pathlib import Path

from tests.conftest import REPO
from tests.support.cli import run_twinstar
from twinstar.replica.paths import ManagedPath, Replica

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


def twinstar(*args: str, env: dict[str, str] | None = None, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    """Run the real command line in a child process (in ``cwd``)."""
    return run_twinstar(None, *args, env=env, cwd=cwd, timeout=120)


class Node:
    """A node's view for the tests: the replica, a configuration, and the path to move."""

    def __init__(self, tmp_path: Path, fs) -> None:
        self.fs = fs
        self.replica = Replica(str(fs.mountpoint))
        self.etc = tmp_path / "system" / "etc"
        self.path = self.etc / "asterisk"
        self.config = tmp_path / "conf" / "twinstar.yaml"
        self.config.parent.mkdir()
        self.config.write_text(
            "node: pbx-a\n"
            f"state_dir: {tmp_path}/state\n"
            "takeover:\n"
            f"  - drbd: {{resource: r0, device: /dev/drbd0, mountpoint: {fs.mountpoint}}}\n"
        )
        self.config.chmod(0o644)
        self.local_manifest = self.config.parent / "replica-managed.json"

    @property
    def mp(self) -> ManagedPath:
        return ManagedPath(str(self.path), self.replica)

    def run(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return twinstar("--config", str(self.config), "replica", *args, env=env)

    def managed(self) -> list[str]:
        with open(os.path.join(self.replica.meta_dir, "managed.json")) as f:
            return [e["path"] for e in json.load(f)["paths"]]

    def journal(self) -> dict[str, object]:
        try:
            with open(os.path.join(self.replica.meta_dir, "moves.json")) as f:
                return json.load(f)["moves"]
        except FileNotFoundError:
            return {}

    def assert_moved(self, before: dict[str, tuple[object, ...]]) -> None:
        mp = self.mp
        assert os.path.islink(mp.path), f"{mp.path} is not a symlink"
        assert os.readlink(mp.path) == mp.target
        assert snapshot(mp.target) == before
        assert self.managed() == [mp.path]
        with open(self.local_manifest) as f:
            assert [e["path"] for e in json.load(f)["paths"]] == [mp.path]
        for helper in (mp.partial, mp.link_tmp, mp.old):
            assert not os.path.lexists(helper), f"{helper} left behind"
        assert self.journal() == {}

    def assert_untouched(self, before: dict[str, tuple[object, ...]]) -> None:
        mp = self.mp
        assert not os.path.islink(mp.path)
        assert snapshot(mp.path) == before
        for leftover in (mp.partial, mp.link_tmp, mp.old, mp.target):
            assert not os.path.lexists(leftover), f"{leftover} left behind"
        assert self.journal() == {}


def fill_inodes(directory: Path) -> list[Path]:
    """Use up every free inode of the filesystem holding ``directory``."""
    made = []
    for i in range(1_000_000):
        path = directory / f"fill-{i}"
        try:
            path.touch()
        except OSError:
            return made
        made.append(path)
    raise AssertionError("the filesystem never filled up")
