"""A small real tmpfs to fill: a ``state_dir`` that runs out of room (needs root to mount)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PAGE = 4096
SIZE_PAGES = 32


@contextmanager
def tmpfs(path: Path, *, pages: int = SIZE_PAGES) -> Iterator[Path]:
    path.mkdir(mode=0o700, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={pages * PAGE},mode=0700", "tsen-state", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=True)


def fill(state: Path, free_pages: int) -> Path:
    """Leave ``free_pages`` pages free in the tmpfs at ``state``."""
    st = os.statvfs(state)
    filler = state / "filler"
    filler.write_bytes(b"\0" * ((st.f_bavail - free_pages) * st.f_frsize))
    assert os.statvfs(state).f_bavail == free_pages
    return filler
