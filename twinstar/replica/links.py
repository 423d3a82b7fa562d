"""``replica list``, ``check`` and ``link``: the links on each node, against the managed list.

Where the list comes from: the replica's own copy when the replica is mounted
on this node, otherwise the node's local copy (see
:mod:`twinstar.replica.manifest`). On the standby the links exist and dangle
(the replica is mounted on the other node): ``check`` reports that as correct.

``link`` makes this node match the list: each managed path becomes a symlink
into the replica; whatever was there (a package's fresh ``/etc/asterisk`` on a
newly installed standby) is kept, renamed to ``PATH.twinstar-local-<UTC time>``.
With the replica unmounted and no local copy yet, ``link`` takes the paths on
its command line (as ``replica list`` prints them on the other node).
"""

from __future__ import annotations

import logging
import os
import stat
import time
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from twinstar.errors import BadInputError, TwinstarError
from twinstar.fastpath.atomic import exchange, fsync_dir
from twinstar.mounts import MOUNTINFO, is_mounted
from twinstar.ops.findings import Finding, Level
from twinstar.replica import inuse
from twinstar.replica.manifest import Manifest, ReplicaFiles, read_local, write_local
from twinstar.replica.paths import (
    ManagedPath,
    Replica,
    canonical,
    check_placement,
    is_link_to,
    lstat_or_none,
)

logger = logging.getLogger("twinstar.replica")


class Source(StrEnum):
    """Where the managed list was read from."""

    REPLICA = "replica"
    LOCAL = "local copy"
    NONE = "none"


@dataclass(frozen=True)
class Listing:
    manifest: Manifest
    source: Source
    location: str
    mounted: bool


def read_listing(replica: Replica, local_manifest: str, *, mountinfo: str = MOUNTINFO) -> Listing:
    """The managed list: from the replica when mounted here, else the local copy."""
    mounted = is_mounted(replica.root, mountinfo=mountinfo)
    if mounted:
        files = ReplicaFiles(replica)
        return Listing(files.read_manifest(), Source.REPLICA, files.managed_path, mounted)
    local = read_local(local_manifest)
    if local is None:
        return Listing(Manifest(replica.root), Source.NONE, local_manifest, mounted)
    return Listing(local, Source.LOCAL, local_manifest, mounted)


# --- check ------------------------------------------------------------------------------


def check(replica: Replica, local_manifest: str, *, mountinfo: str = MOUNTINFO) -> tuple[Listing, list[Finding]]:
    """Every managed path against what this node has; a failed one makes ``replica check`` exit 1."""
    listing = read_listing(replica, local_manifest, mountinfo=mountinfo)
    findings: list[Finding] = []
    if listing.source == Source.NONE:
        findings.append(
            Finding(
                Level.FAIL,
                "managed list",
                f"the replica {replica.root} is not mounted here and there is no local copy at {local_manifest}",
            )
        )
        return listing, findings
    if listing.mounted:
        files = ReplicaFiles(replica)
        for path, record in sorted(files.read_journal().items()):
            findings.append(
                Finding(
                    Level.FAIL,
                    path,
                    f"move unfinished (stage {record.get('stage', '?')}): run twinstar replica add {path}",
                )
            )
        local = read_local(local_manifest)
        if local is None or local.paths != listing.manifest.paths:
            findings.append(
                Finding(
                    Level.WARNING,
                    local_manifest,
                    "the local copy of the managed list is missing or out of date: run twinstar replica link",
                )
            )
    for entry in listing.manifest.entries:
        findings.append(_check_path(ManagedPath(entry.path, replica), mounted=listing.mounted))
    return listing, findings


def _check_path(mp: ManagedPath, *, mounted: bool) -> Finding:
    st = lstat_or_none(mp.path)
    if st is None:
        return Finding(Level.FAIL, mp.path, "missing: run twinstar replica link")
    if not stat.S_ISLNK(st.st_mode):
        return Finding(Level.FAIL, mp.path, "is a local copy, not a link into the replica: run twinstar replica link")
    if not is_link_to(mp.path, mp.target):
        return Finding(
            Level.FAIL, mp.path, f"links to {os.readlink(mp.path)}, not {mp.target}: run twinstar replica link"
        )
    if not mounted:
        return Finding(Level.OK, mp.path, f"links to {mp.target} (dangling: the replica is not mounted on this node)")
    if lstat_or_none(mp.target) is None:
        return Finding(Level.FAIL, mp.path, f"links to {mp.target}, which is missing on the mounted replica")
    return Finding(Level.OK, mp.path, f"links to {mp.target}")


# --- link -------------------------------------------------------------------------------


class LinkOutcome(StrEnum):
    ALREADY = "already linked"
    LINKED = "linked"
    MOVED_ASIDE = "linked, local copy kept"


@dataclass(frozen=True)
class LinkReport:
    path: str
    target: str
    outcome: LinkOutcome
    aside: str | None = None


def link(
    replica: Replica,
    local_manifest: str,
    raw_paths: Sequence[str],
    *,
    force: bool = False,
    mountinfo: str = MOUNTINFO,
    proc: str = "/proc",
) -> list[LinkReport]:
    """Make every managed path (or those given) a symlink into the replica; update the local copy."""
    listing = read_listing(replica, local_manifest, mountinfo=mountinfo)
    manifest = listing.manifest
    if raw_paths:
        wanted = []
        for raw in raw_paths:
            path = canonical(raw)
            check_placement(path, replica)
            if listing.source == Source.REPLICA and manifest.get(path) is None:
                raise BadInputError(
                    f"{path}: is not in the managed list on the replica",
                    hint=f"move it there with twinstar replica add {path}",
                )
            if path not in wanted:
                wanted.append(path)
    elif listing.source == Source.NONE:
        raise BadInputError(
            f"no managed list: the replica {replica.root} is not mounted here and {local_manifest} does not exist",
            hint="pass the paths, as twinstar replica list prints them on the node where the replica is mounted",
        )
    else:
        wanted = manifest.paths
        for path in wanted:
            check_placement(path, replica)
    if listing.mounted:
        unfinished = set(ReplicaFiles(replica).read_journal()) & set(wanted)
        if unfinished:
            path = sorted(unfinished)[0]
            raise BadInputError(f"{path}: its move is unfinished", hint=f"run twinstar replica add {path}")
    managed = [ManagedPath(p, replica) for p in wanted]
    for mp in managed:
        _check_linkable(mp, force=force, proc=proc)
    reports = []
    for mp in managed:
        try:
            reports.append(_link_one(mp))
        except OSError as exc:
            where = f" ({exc.filename})" if exc.filename else ""
            raise TwinstarError(
                f"{mp.path}: cannot link it to {mp.target}: {exc.strerror or exc}{where}",
                hint="no local copy is ever deleted; fix the cause and run twinstar replica link again",
            ) from None
    local = manifest
    if listing.source != Source.REPLICA:
        for mp in managed:
            local = local.with_path(mp.path, "")
    write_local(local_manifest, local)
    return reports


def _check_linkable(mp: ManagedPath, *, force: bool, proc: str) -> None:
    if not os.path.isdir(mp.parent):
        raise BadInputError(f"{mp.path}: its parent directory {mp.parent} does not exist", hint=f"mkdir -p {mp.parent}")
    inuse.check_unused(mp, force=force, proc=proc, doing="replacing", hint="stop those programs or pass --force")


def _aside_name(mp: ManagedPath) -> str:
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    name = mp.local_aside(stamp)
    n = 1
    while lstat_or_none(name) is not None:
        name = f"{mp.local_aside(stamp)}-{n}"
        n += 1
    return name


def _link_one(mp: ManagedPath) -> LinkReport:
    aside: str | None = None
    tmp = lstat_or_none(mp.link_tmp)
    if tmp is not None:
        # Left by an interrupted link: our symlink, or (after the exchange) the local copy.
        if is_link_to(mp.link_tmp, mp.target):
            os.unlink(mp.link_tmp)
        elif is_link_to(mp.path, mp.target):
            aside = _aside_name(mp)
            os.rename(mp.link_tmp, aside)
            fsync_dir(mp.parent)
        else:
            raise BadInputError(f"{mp.path}: {mp.link_tmp} is in the way", hint="inspect and remove it")
    st = lstat_or_none(mp.path)
    if st is not None and is_link_to(mp.path, mp.target):
        outcome = LinkOutcome.MOVED_ASIDE if aside else LinkOutcome.ALREADY
        return LinkReport(mp.path, mp.target, outcome, aside)
    os.symlink(mp.target, mp.link_tmp)
    if st is None:
        os.rename(mp.link_tmp, mp.path)
        fsync_dir(mp.parent)
        logger.info("%s: linked to %s", mp.path, mp.target)
        return LinkReport(mp.path, mp.target, LinkOutcome.LINKED)
    aside = _aside_name(mp)
    if exchange(mp.link_tmp, mp.path):
        os.rename(mp.link_tmp, aside)
    else:
        os.rename(mp.path, aside)
        os.rename(mp.link_tmp, mp.path)
    fsync_dir(mp.parent)
    logger.info("%s: linked to %s; the local copy is now %s", mp.path, mp.target, aside)
    return LinkReport(mp.path, mp.target, LinkOutcome.MOVED_ASIDE, aside)
