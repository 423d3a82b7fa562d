"""Writing ``state_dir/policy.json``: each change read, merged and replaced atomically under ``policy.lock``.

The reader is :func:`twinstar.fastpath.policyfile.read_policy` (the hook reads
it on its fast path); this is the one writer. Every change is small and
merged into what is there, so the hook, the daemon, a hand-off runner and an
operator's command can each record their part without losing another's.
"""

from __future__ import annotations

import os
import time

from twinstar.engine.lock import FileLock
from twinstar.engine.statedir import ensure_dir, write_json
from twinstar.fastpath import procid, statefile
from twinstar.fastpath.policyfile import PolicyView, policy_path, read_policy

#: How long a writer waits for another one (each holds the lock for one small file write).
LOCK_WAIT = 30.0


def update(state_dir: str, **changes: object) -> PolicyView:
    """Merge ``changes`` into the record (None removes a field) and return what it says now.

    Boot-clock fields (``retry_at``, ``split_since``) are written with this
    boot's id, so that another boot reads them as past.
    """
    ensure_dir(state_dir)
    with FileLock(os.path.join(state_dir, "policy.lock"), timeout=LOCK_WAIT):
        try:
            raw = statefile.read_object(policy_path(state_dir)) or {}
        except Exception:  # noqa: BLE001 - a torn or foreign file is replaced (see fastpath.policyfile)
            raw = {}
        merged = {**raw, **changes, "boot_id": procid.boot_id(), "updated": time.time()}
        if raw.get("boot_id") != procid.boot_id():
            merged = {k: v for k, v in merged.items() if k not in ("retry_at", "split_since") or k in changes}
        for key in [k for k, v in merged.items() if v is None]:
            del merged[key]
        write_json(policy_path(state_dir), merged)
    return read_policy(state_dir)


def set_hold(state_dir: str, hold: str | None) -> PolicyView:
    """Record the operator's manual ``takeover`` or ``release`` (None: the hold ends)."""
    return update(state_dir, hold=hold, hold_since=time.time() if hold else None, hold_left=None)


def units_left(state_dir: str, view: PolicyView) -> PolicyView | None:
    """No listed unit is here: the tries and the split end, a hold ends when they come back; None: nothing changed."""
    left = True if view.hold is not None else None
    if view.hold_left == bool(left) and not view.tries and not view.spent and view.retry_at is None and view.split_since is None:
        return None
    return update(state_dir, hold_left=left, tries=0, spent=None, retry_at=None, split_since=None)


def units_back(state_dir: str, view: PolicyView) -> PolicyView | None:
    """Units are here again: a hold whose units had left ends; None when there was none."""
    if view.hold is None or not view.hold_left:
        return None
    return update(state_dir, hold=None, hold_since=None, hold_left=None)
