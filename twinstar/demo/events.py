"""The demo's event log: one JSON object per line, appended by several processes.

Every record has ``t`` (wall-clock seconds, the same clock the engine's
journal uses), ``event`` and ``host``; anything else is detail. Each record is
one ``write(2)`` on an O_APPEND file, so writers never interleave.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any


def emit(path: str, event: str, host: str = "", *, t: float | None = None, **detail: Any) -> None:
    record = {"t": round(time.time() if t is None else t, 6), "event": event, "host": host, **detail}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
    try:
        os.write(fd, json.dumps(record, sort_keys=True).encode() + b"\n")
    finally:
        os.close(fd)


def read(path: str) -> list[dict[str, Any]]:
    """Every complete record, in file order (a torn last line is skipped)."""
    try:
        with open(path, "rb") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return []
    out = []
    for line in lines:
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out
