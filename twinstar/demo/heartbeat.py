"""A server's sign of life to the Astribanks: while it runs, the units' watchdog is fed.

On real hardware the xpp driver keeps talking to the unit over USB; here
each server runs this process inside its namespace, writing the time to a
file every ``--interval`` seconds. When the server's "power" is cut this
process dies with everything else on it, and the simulated hardware sees the
heartbeat lapse.

    python -m twinstar.demo.heartbeat FILE [--interval 0.02]
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time

#: Seconds between two heartbeats: the units' watchdog may see the last one
#: up to this long before the power is cut.
INTERVAL = 0.02


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m twinstar.demo.heartbeat")
    parser.add_argument("file")
    parser.add_argument("--interval", type=float, default=INTERVAL)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    fd = os.open(args.file, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
    while True:
        os.pwrite(fd, f"{time.time():.6f}\n".encode(), 0)
        time.sleep(args.interval)


def last_beat(path: str) -> float | None:
    """Wall-clock time of the last heartbeat written to ``path``, or None."""
    try:
        with open(path, "rb") as f:
            data = f.read().strip()
        return float(data) if data else None
    except (OSError, ValueError):
        return None


if __name__ == "__main__":
    sys.exit(main())
