"""What must stay on the node's own disk: never moved onto the replica.

The replica is mounted only on the active node, and only during the
takeover; what a node reads before that (or on the standby) must be its own:

* ``xpp_order`` and ``/etc/dahdi``: readiness and the dahdi step read them
  before the drbd step mounts the replica: a node whose ``/etc/dahdi`` is a
  link into the replica never becomes ready;
* twinstar's own configuration (the file and its directory): every hook,
  the daemon and the release read it, on both nodes, replica mounted or not.

Pure: :func:`keep_local` names the paths and why; :func:`conflict` says why a
path may not move; :func:`moved_away` says which of them already lead into
the replica (``twinstar check``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from twinstar import settings

#: DAHDI's configuration directory (xpp_order's default home).
DAHDI_DIR = os.path.dirname(settings.XPP_ORDER)


def keep_local(xpp_order: str | None, config_path: str) -> list[tuple[str, str]]:
    """The paths that must stay local, each with why, without duplicates."""
    found: list[tuple[str, str]] = []
    dahdi = "DAHDI reads it before the replica is mounted (readiness, the dahdi step)"
    for path, why in (
        (xpp_order or settings.XPP_ORDER, "xpp_order: " + dahdi),
        (os.path.dirname(xpp_order or settings.XPP_ORDER), "the directory of xpp_order: " + dahdi),
        (DAHDI_DIR, "DAHDI's configuration: " + dahdi),
        (config_path, "twinstar's configuration: read by every hook and the release, replica mounted or not"),
        (os.path.dirname(config_path), "twinstar's configuration directory: read by every hook and the release"),
    ):
        path = os.path.normpath(path)
        if path != "/" and path not in (p for p, _ in found):
            found.append((path, why))
    return found


def conflict(path: str, local: Sequence[tuple[str, str]]) -> str | None:
    """Why ``path`` (absolute, normalised) may not move onto the replica; None when it may."""
    for keep, why in local:  # the path itself first, then what it holds, then what holds it
        if path == keep:
            return f"{path} must stay on this node: {why}"
    for keep, why in local:
        if keep.startswith(path.rstrip("/") + "/"):
            return f"{path} holds {keep}, which must stay on this node: {why}"
    for keep, why in local:
        if path.startswith(keep + "/"):
            return f"{path} is inside {keep}, which must stay on this node: {why}"
    return None


def moved_away(local: Sequence[tuple[str, str]], replica_roots: Sequence[str]) -> list[str]:
    """Each path of ``local`` that resolves into one of ``replica_roots`` (it was moved there): why, one line each."""
    problems = []
    for path, why in local:
        real = os.path.realpath(path)
        for root in replica_roots:
            if real == root or real.startswith(root.rstrip("/") + "/"):
                problems.append(f"{path} leads into the replica ({real}); it must stay on this node: {why}")
    return problems
