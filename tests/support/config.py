"""The one configuration builder of the tests: a twinstar.yaml (mode 0644) from a few keywords."""

from __future__ import annotations

import os
import time
from pathlib import Path


def config_text(
    *,
    state_dir: Path | str,
    sysfs: Path | str,
    xpp_order: Path | str,
    steps: str,
    node: str = "test",
    maintenance_file: Path | str | None = None,
    handoff: str | None = None,
    rearm_watchdog: bool | None = None,
    extra: str = "",
) -> str:
    """The YAML text; ``steps`` are the ``takeover:`` list items, ``extra`` top-level lines before it."""
    rearm = "" if rearm_watchdog is None else f", rearm_watchdog: {str(rearm_watchdog).lower()}"
    return (
        f"node: {node}\n"
        f"state_dir: {state_dir}\n"
        + (f"maintenance_file: {maintenance_file}\n" if maintenance_file is not None else "")
        + (f"handoff: {handoff}\n" if handoff is not None else "")
        + f"astribanks: {{sysfs: {sysfs}, xpp_order: {xpp_order}{rearm}}}\n"
        + extra
        + f"takeover:\n{steps}"
    )


def write_config(path: Path, *, age: float = 0, **keys: object) -> Path:
    """Write :func:`config_text` (``keys``) to ``path`` with mode 0644.

    ``age`` dates the file that many seconds back (the settings cache
    ignores a file changed within its racy window).
    """
    path.write_text(config_text(**keys))  # type: ignore[arg-type]
    path.chmod(0o644)
    if age:
        old = time.time() - age
        os.utime(path, (old, old))
    return path
