"""The one way tests run twinstar as a child process: an environment without the host's ``TWINSTAR_*``.

Every variable twinstar reads (``TWINSTAR_CONFIG``, ``TWINSTAR_CACHE_DIR``,
the USB simulator's...) comes from the test, never from the shell that runs
the suite; udev's event variables are dropped too, so a hook run sees only
the event the test gives it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TWINSTAR = [sys.executable, "-m", "twinstar"]
UDEV_EVENT = ("ACTION", "XBUS_NAME", "XBUS_NUM", "DEVPATH")


def clean_environ(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without ``TWINSTAR_*`` and udev's event variables, then ``env`` on top."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("TWINSTAR_") and k not in UDEV_EVENT}
    full.update(env or {})
    return full


def run_twinstar(
    config: Path | None,
    *args: str,
    env: Mapping[str, str] | None = None,
    prefix: Sequence[str] = (),
    cwd: Path = REPO,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """``python -m twinstar [--config CONFIG] ARGS`` (through ``prefix``, e.g. ``nsenter --net=...``), output captured."""
    options = ["--config", str(config)] if config is not None else []
    return subprocess.run(
        [*prefix, *TWINSTAR, *options, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=clean_environ(env),
        cwd=cwd,
    )
