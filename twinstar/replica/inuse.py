"""Which processes use a path: working directory, root, executable, open files, mappings.

``replica add`` and ``replica link`` refuse to move a path that any process
uses (unless ``--force``). The rule is deliberately wider than "a service of
the takeover": any process writing into the original while it is copied would
lose that write, whichever service it belongs to. Read from ``/proc``; a
process that exits during the scan is skipped.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from twinstar.errors import RefusedError
from twinstar.replica.paths import ManagedPath, is_link_to, lstat_or_none

logger = logging.getLogger("twinstar.replica")


@dataclass(frozen=True)
class User:
    """A process using a path, and how."""

    pid: int
    comm: str
    how: str  # "cwd", "root", "exe", "fd 5", "mapped"
    path: str

    def __str__(self) -> str:
        return f"pid {self.pid} ({self.comm}) {self.how} {self.path}"


def _under(candidate: str, path: str) -> bool:
    if candidate.endswith(" (deleted)"):
        candidate = candidate[: -len(" (deleted)")]
    return candidate == path or candidate.startswith(path + "/")


def _comm(proc_dir: str) -> str:
    try:
        with open(os.path.join(proc_dir, "comm"), encoding="utf-8", errors="replace") as f:
            return f.read().strip()
    except OSError:
        return "?"


def users(path: str, *, proc: str = "/proc", exclude: frozenset[int] = frozenset()) -> list[User]:
    """Every process (but ``exclude``) whose cwd, root, exe, open files or mappings are under ``path``.

    ``path`` must be canonical (no symlinks): ``/proc`` shows resolved paths.
    """
    found: list[User] = []
    me = os.getpid()
    try:
        pids = [int(n) for n in os.listdir(proc) if n.isdigit()]
    except OSError:
        return found
    for pid in sorted(pids):
        if pid == me or pid in exclude:
            continue
        base = os.path.join(proc, str(pid))
        hits: list[tuple[str, str]] = []
        for link in ("cwd", "root", "exe"):
            try:
                target = os.readlink(os.path.join(base, link))
            except OSError:
                continue
            if link == "root" and target == "/":
                continue
            if _under(target, path):
                hits.append((link, target))
        try:
            fds = os.listdir(os.path.join(base, "fd"))
        except OSError:
            fds = []
        for fd in fds:
            try:
                target = os.readlink(os.path.join(base, "fd", fd))
            except OSError:
                continue
            if _under(target, path):
                hits.append((f"fd {fd}", target))
        try:
            with open(os.path.join(base, "maps"), encoding="utf-8", errors="surrogateescape") as f:
                for line in f:
                    parts = line.rstrip("\n").split(maxsplit=5)
                    if len(parts) == 6 and _under(parts[5], path):
                        hits.append(("mapped", parts[5]))
                        break
        except OSError:
            pass
        if hits:
            comm = _comm(base)
            found.extend(User(pid, comm, how, target) for how, target in hits)
    return found


def describe(found: list[User], *, limit: int = 5) -> str:
    """A one-line summary naming the processes (pid and command)."""
    procs: dict[int, User] = {}
    for u in found:
        procs.setdefault(u.pid, u)
    shown = [str(u) for u in list(procs.values())[:limit]]
    more = len(procs) - len(shown)
    return "; ".join(shown) + (f"; and {more} more" if more > 0 else "")


def check_unused(mp: ManagedPath, *, force: bool, proc: str, doing: str, hint: str) -> None:
    """Refuse (exit 3) to touch ``mp.path`` while a process uses it; with ``force`` only warn.

    Nothing to check when the path is missing or already the link. ``doing``
    is the verb of the warning ("moving"), ``hint`` what the refusal suggests.
    """
    if lstat_or_none(mp.path) is None or is_link_to(mp.path, mp.target):
        return
    found = users(mp.path, proc=proc)
    if not found:
        return
    if force:
        logger.warning("%s is in use, %s it anyway (--force): %s", mp.path, doing, describe(found))
        return
    raise RefusedError(f"{mp.path}: in use by {describe(found)}", hint=hint)
