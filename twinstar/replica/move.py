"""``replica add``: move a path into the replica and leave a symlink, crash-safely.

One idea, and why it is over 400 lines: the move is one sequence of stages,
each resumable from the real state of five names; split, the order that
makes it crash-safe would be spread over modules. The stages and what an
interruption leaves are in docs/architecture.md ("The crash-safe move").
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import signal
import socket
import stat
from collections.abc import Callable, Sequence
from dataclasses import KW_ONLY, dataclass, field
from enum import StrEnum

from twinstar.engine.lock import FileLock
from twinstar.errors import BadInputError, TwinstarError
from twinstar.fastpath.atomic import exchange, fsync_dir
from twinstar.mounts import MOUNTINFO, is_mounted, mount_points
from twinstar.replica import inuse, local
from twinstar.replica.manifest import (
    Manifest,
    ManifestError,
    ReplicaFiles,
    now,
    read_local,
    write_local,
)
from twinstar.replica.paths import (
    ManagedPath,
    Replica,
    canonical,
    check_placement,
    is_link_to,
    kind_of,
    link_target_in_replica,
    lstat_or_none,
)
from twinstar.replica.tree import compare_trees, copy_tree

logger = logging.getLogger("twinstar.replica")

#: Environment variable naming a :class:`Stage` at which ``replica add`` kills
#: itself with SIGKILL: used to prove that every interruption can be resumed.
CRASH_ENV = "TWINSTAR_REPLICA_CRASH_AT"


class Stage(StrEnum):
    """Points in a move where an interruption is possible (see the module docstring)."""

    COPYING = "copying"
    COPIED = "copied"
    VERIFIED = "verified"
    COMMITTED = "committed"
    LINK_CREATED = "link-created"
    EXCHANGED = "exchanged"
    MOVED_ASIDE = "moved-aside"
    SWITCHED = "switched"
    RECORDED = "recorded"
    OLD_REMOVED = "old-removed"


Checkpoint = Callable[[Stage], None]


def no_checkpoint(stage: Stage) -> None:
    return None


def kill_at(name: str) -> Checkpoint:
    """A checkpoint that SIGKILLs this process when it reaches the stage ``name``."""
    try:
        wanted = Stage(name)
    except ValueError:
        choices = ", ".join(s.value for s in Stage)
        raise BadInputError(f"{CRASH_ENV}={name!r}: not a stage; stages: {choices}") from None

    def checkpoint(stage: Stage) -> None:
        if stage == wanted:
            os.kill(os.getpid(), signal.SIGKILL)

    return checkpoint


class SwitchMode(StrEnum):
    """How the symlink takes the original's place."""

    EXCHANGE = "exchange"  # renameat2(RENAME_EXCHANGE), falling back to RENAME when unsupported
    RENAME = "rename"  # two renames


class MoveOutcome(StrEnum):
    MOVED = "moved"
    RESUMED = "resumed"  # an interrupted move was completed


@dataclass(frozen=True)
class MoveReport:
    path: str
    target: str
    outcome: MoveOutcome
    entries: int = 0
    bytes: int = 0


class MoveError(TwinstarError):
    """A move could not be done; the message says where the original is."""


@dataclass
class Mover:
    """Moves paths into a mounted replica (``replica add``)."""

    replica: Replica
    local_manifest: str
    _: KW_ONLY
    force: bool = False
    checkpoint: Checkpoint = no_checkpoint
    switch: SwitchMode = SwitchMode.EXCHANGE
    mountinfo: str = MOUNTINFO
    proc: str = "/proc"
    #: Paths that must stay on this node, with why (:func:`twinstar.replica.local.keep_local`).
    keep_local: Sequence[tuple[str, str]] = ()
    _files: ReplicaFiles = field(init=False)

    def __post_init__(self) -> None:
        self._files = ReplicaFiles(self.replica)

    # -- entry point --

    def add(self, raw_paths: Sequence[str]) -> list[MoveReport]:
        """Validate every path (nothing changes on bad input), then move them one by one."""
        require_mounted(self.replica, mountinfo=self.mountinfo)
        journal = self._files.read_journal()
        manifest = self._files.read_manifest()
        managed: list[ManagedPath] = []
        for raw in raw_paths:
            mp = ManagedPath(canonical(raw), self.replica)
            check_placement(mp.path, self.replica)
            why = local.conflict(mp.path, self.keep_local)
            if why is not None:
                raise BadInputError(why, hint="keep it on this node; move only the PBX's own configuration and data")
            if mp.path in (m.path for m in managed):
                raise BadInputError(f"{mp.path}: given twice")
            if mp.path not in journal:
                self._check_new(mp, in_manifest=manifest.get(mp.path) is not None)
            managed.append(mp)
        for mp in managed:
            self._check_unused(mp)
        self._files.ensure_dir()
        with FileLock(self._files.lock_path):
            # The local copy is written again at the end of each move: a node
            # where it cannot be written fails here, before anything moved.
            self._sync_local(self._files.read_manifest())
            reports = []
            for mp in managed:
                try:
                    reports.append(self._move(mp))
                except (OSError, ManifestError) as exc:
                    raise self._stopped(mp, exc) from None
            return reports

    # -- validation --

    def _check_new(self, mp: ManagedPath, *, in_manifest: bool) -> None:
        st = lstat_or_none(mp.path)
        if st is None:
            raise BadInputError(f"{mp.path}: does not exist")
        if stat.S_ISLNK(st.st_mode):
            target = link_target_in_replica(mp.path, self.replica)
            if target is not None:
                raise BadInputError(
                    f"{mp.path}: is already a link into the replica ({target})",
                    hint="it is managed" if in_manifest else "see twinstar replica check",
                )
            raise BadInputError(
                f"{mp.path}: is a symlink to {os.readlink(mp.path)}",
                hint="give the path it points to",
            )
        if not (stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode)):
            raise BadInputError(f"{mp.path}: is a {kind_of(st)}; only directories and files can be moved")
        if mp.path in mount_points(self.mountinfo):
            raise BadInputError(f"{mp.path}: is a mount point; it cannot be moved into the replica")
        if in_manifest:
            raise BadInputError(
                f"{mp.path}: is in the managed list but is not a link",
                hint="run twinstar replica link to replace the local copy by the link",
            )
        if lstat_or_none(mp.target) is not None:
            raise BadInputError(
                f"{mp.path}: the replica already holds {mp.target}",
                hint="if it came from the other node, run twinstar replica link here; otherwise move it away",
            )
        for helper in (mp.partial, mp.link_tmp, mp.old):
            if lstat_or_none(helper) is not None:
                raise BadInputError(f"{mp.path}: {helper} is in the way", hint="inspect and remove it")

    def _check_unused(self, mp: ManagedPath) -> None:
        inuse.check_unused(
            mp,
            force=self.force,
            proc=self.proc,
            doing="moving",
            hint="stop those programs first, e.g. with twinstar release or systemctl stop, or pass --force",
        )

    # -- the move --

    def _move(self, mp: ManagedPath) -> MoveReport:
        journal = self._files.read_journal()
        resumed = mp.path in journal
        if resumed:
            logger.info("%s: resuming an interrupted move (stage %s)", mp.path, journal[mp.path].get("stage"))
        else:
            self._journal(mp, "copying")
        stats = (0, 0)
        while True:
            done, copied = self._step(mp)
            if copied != (0, 0):
                stats = copied
            if done:
                break
        outcome = MoveOutcome.RESUMED if resumed else MoveOutcome.MOVED
        logger.info("%s: %s to %s", mp.path, outcome.value, mp.target)
        return MoveReport(mp.path, mp.target, outcome, entries=stats[0], bytes=stats[1])

    def _step(self, mp: ManagedPath) -> tuple[bool, tuple[int, int]]:
        """Look at the real state of the move's names and take one step; True when finished."""
        p = lstat_or_none(mp.path)
        link = lstat_or_none(mp.link_tmp)
        old = lstat_or_none(mp.old)
        linked = p is not None and is_link_to(mp.path, mp.target)
        if link is not None:
            if is_link_to(mp.link_tmp, mp.target):
                if p is None:  # rename fallback: the original is aside, the symlink not yet in place
                    self._rename(mp.link_tmp, mp.path, Stage.SWITCHED)
                else:  # created before the switch: redo the switch
                    os.unlink(mp.link_tmp)
            elif linked and not stat.S_ISLNK(link.st_mode):  # exchanged: the original is at link_tmp
                if old is not None:
                    raise MoveError(f"{mp.path}: both {mp.link_tmp} and {mp.old} exist", hint="inspect them")
                self._rename(mp.link_tmp, mp.old, Stage.SWITCHED)
            else:
                raise MoveError(f"{mp.path}: {mp.link_tmp} is in the way", hint="inspect and remove it")
            return False, (0, 0)
        if p is None:
            if old is None or lstat_or_none(mp.target) is None:
                raise MoveError(
                    f"{mp.path}: is missing, and so is {mp.old if old is None else mp.target}",
                    hint=f"restore {mp.path} from {mp.target} or a backup",
                )
            os.symlink(mp.target, mp.link_tmp)
            self._rename(mp.link_tmp, mp.path, Stage.SWITCHED)
            return False, (0, 0)
        if linked:
            self._finish(mp)
            return True, (0, 0)
        if old is not None:
            raise MoveError(
                f"{mp.path}: exists again although the original was moved aside to {mp.old}",
                hint=f"compare them; keep one at {mp.path} and remove {mp.old}",
            )
        stats = (0, 0)
        if lstat_or_none(mp.target) is not None:
            differences = compare_trees(mp.path, mp.target)
            if differences:
                logger.info("%s changed since it was copied; copying it again", mp.path)
                _remove(mp.target)
        if lstat_or_none(mp.target) is None:
            stats = self._copy(mp)
        self._check_unused(mp)
        self._switch(mp)
        return False, stats

    def _copy(self, mp: ManagedPath) -> tuple[int, int]:
        if lstat_or_none(mp.partial) is not None:
            _remove(mp.partial)
        self._make_parents(mp)
        first = [True]

        def on_file() -> None:
            if first[0]:
                first[0] = False
                self.checkpoint(Stage.COPYING)

        try:
            stats = copy_tree(mp.path, mp.partial, on_file=on_file)
            self.checkpoint(Stage.COPIED)
            os.sync()
            differences = compare_trees(mp.path, mp.partial)
            if differences:
                raise MoveError(
                    f"{mp.path}: the copy does not match the original: " + "; ".join(differences[:3]),
                    hint="stop the programs writing to it and retry; the original is untouched",
                )
            self.checkpoint(Stage.VERIFIED)
        except Exception as exc:
            self._abandon(mp)
            if isinstance(exc, OSError):
                raise self._copy_failed(mp, exc) from None
            raise
        os.rename(mp.partial, mp.target)
        fsync_dir(mp.target_parent)
        self._journal(mp, "committed")
        self.checkpoint(Stage.COMMITTED)
        return stats.entries, stats.bytes

    def _copy_failed(self, mp: ManagedPath, exc: OSError) -> TwinstarError:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return MoveError(
                f"{mp.path}: the replica filesystem {self.replica.root} is full",
                hint=f"the partial copy was removed and {mp.path} is untouched; free space on the replica and retry",
            )
        where = f" ({exc.filename})" if exc.filename else ""
        return MoveError(
            f"{mp.path}: copying into the replica failed: {exc.strerror or exc}{where}",
            hint=f"the partial copy was removed and {mp.path} is untouched",
        )

    def _stopped(self, mp: ManagedPath, exc: OSError | ManifestError) -> MoveError:
        """An error between the steps (journal, switch, record): what failed and where the original is."""
        if isinstance(exc, ManifestError):
            what = exc.message
        elif exc.errno in (errno.ENOSPC, errno.EDQUOT):
            what = f"the replica filesystem {self.replica.root} is full"
        else:
            what = f"{exc.strerror or exc}" + (f" ({exc.filename})" if exc.filename else "")
        return MoveError(
            f"{mp.path}: the move stopped: {what}",
            hint=f"{original_whereabouts(mp)}; fix the cause, then run twinstar replica add {mp.path} again",
        )

    def _abandon(self, mp: ManagedPath) -> None:
        """Undo a failed copy: remove the partial copy and the journal entry."""
        try:
            if lstat_or_none(mp.partial) is not None:
                _remove(mp.partial)
            journal = self._files.read_journal()
            journal.pop(mp.path, None)
            self._files.write_journal(journal)
        except OSError as exc:  # pragma: no cover - reported, the next run cleans up
            logger.error("%s: could not clean up after the failed copy: %s", mp.path, exc)

    def _make_parents(self, mp: ManagedPath) -> None:
        """Create the replica's copies of the path's parents with their owners and modes."""
        parts = [p for p in mp.parent.split("/") if p]
        current = ""
        for part in parts:
            current += "/" + part
            dest = self.replica.target(current)
            if lstat_or_none(dest) is not None:
                continue
            st = os.stat(current)
            os.mkdir(dest, 0o700)
            os.chown(dest, st.st_uid, st.st_gid)
            os.chmod(dest, stat.S_IMODE(st.st_mode))

    def _switch(self, mp: ManagedPath) -> None:
        self._journal(mp, "switching")
        os.symlink(mp.target, mp.link_tmp)
        fsync_dir(mp.parent)
        self.checkpoint(Stage.LINK_CREATED)
        if self.switch == SwitchMode.EXCHANGE:
            if exchange(mp.link_tmp, mp.path):
                fsync_dir(mp.parent)
                self.checkpoint(Stage.EXCHANGED)
                self._rename(mp.link_tmp, mp.old, Stage.SWITCHED)
                return
            logger.info("%s: atomic exchange unsupported here; using two renames", mp.parent)
        self._rename(mp.path, mp.old, Stage.MOVED_ASIDE)
        self._rename(mp.link_tmp, mp.path, Stage.SWITCHED)

    def _finish(self, mp: ManagedPath) -> None:
        target = lstat_or_none(mp.target)
        if target is None:
            raise MoveError(f"{mp.path}: links to {mp.target}, which is missing", hint="restore it from a backup")
        manifest = self._files.read_manifest()
        if manifest.get(mp.path) is None:
            manifest = manifest.with_path(mp.path, kind_of(target))
            self._files.write_manifest(manifest)
        self._sync_local(manifest)
        self.checkpoint(Stage.RECORDED)
        if lstat_or_none(mp.old) is not None:
            # Once the removal has started, -old is no longer whole: a re-run
            # after an interrupted removal finishes it instead of comparing.
            removing = self._files.read_journal().get(mp.path, {}).get("stage") == "removing-old"
            differences = [] if removing else compare_trees(mp.old, mp.target)
            if differences:
                raise MoveError(
                    f"{mp.path}: kept the original at {mp.old}: it differs from {mp.target}: "
                    + "; ".join(differences[:3]),
                    hint=f"something wrote to it during the move; merge the changes into {mp.target}, "
                    f"remove {mp.old}, and run twinstar replica add {mp.path} again",
                )
            self._journal(mp, "removing-old")
            _remove(mp.old)
            fsync_dir(mp.parent)
            self.checkpoint(Stage.OLD_REMOVED)
        journal = self._files.read_journal()
        journal.pop(mp.path, None)
        self._files.write_journal(journal)

    def _sync_local(self, manifest: Manifest) -> None:
        local = read_local(self.local_manifest)
        if local is None or local.to_json() != manifest.to_json():
            write_local(self.local_manifest, manifest)

    # -- helpers --

    def _rename(self, src: str, dst: str, stage: Stage) -> None:
        os.rename(src, dst)
        fsync_dir(os.path.dirname(dst))
        self.checkpoint(stage)

    def _journal(self, mp: ManagedPath, stage: str) -> None:
        journal = self._files.read_journal()
        entry = journal.get(mp.path) or {"target": mp.target, "node": socket.gethostname(), "started": now()}
        entry["stage"] = stage
        journal[mp.path] = entry
        self._files.write_journal(journal)


def original_whereabouts(mp: ManagedPath) -> str:
    """Where the original of an unfinished move is, for an error message."""
    if lstat_or_none(mp.path) is not None and not is_link_to(mp.path, mp.target):
        return f"{mp.path} is untouched"
    if lstat_or_none(mp.old) is not None:
        return f"the original is kept at {mp.old}"
    link = lstat_or_none(mp.link_tmp)
    if link is not None and not stat.S_ISLNK(link.st_mode):
        return f"the original is kept at {mp.link_tmp}"
    return f"{mp.path} links to the verified copy {mp.target}"


def _remove(path: str) -> None:
    """Remove a file or a whole tree (never following symlinks)."""
    st = os.lstat(path)
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def require_mounted(replica: Replica, *, mountinfo: str = MOUNTINFO) -> None:
    if not os.path.isdir(replica.root):
        raise BadInputError(f"replica {replica.root}: does not exist or is not a directory")
    if not is_mounted(replica.root, mountinfo=mountinfo):
        raise BadInputError(
            f"replica {replica.root}: is not mounted on this node",
            hint="run this on the active node (twinstar takeover mounts it)",
        )
