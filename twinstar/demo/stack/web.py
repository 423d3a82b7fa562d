"""The demo's web browser: fetches the PBX's page every 50 ms and records each outcome.

    python -m twinstar.demo.stack.web --url http://ADDR/ --out FILE [--interval 0.05]

One JSON line per fetch: ``{"t": wall-clock seconds, "ok": true|false,
"status": HTTP status or null}``; a fetch counts as ok on a ``200`` within
the interval's timeout. Runs until SIGTERM.
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import time
import urllib.parse

from twinstar.demo.stopping import StopSignal

INTERVAL = 0.05


def fetch(url: str, timeout: float) -> int | None:
    """The HTTP status of one GET of ``url``, or None when none came."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port or 80, timeout=timeout)
    try:
        conn.request("GET", parts.path or "/")
        response = conn.getresponse()
        response.read()
        return response.status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m twinstar.demo.stack.web")
    parser.add_argument("--url", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--interval", type=float, default=INTERVAL)
    args = parser.parse_args(argv)
    stop = StopSignal()
    next_due = time.monotonic()
    with open(args.out, "a", buffering=1) as out:
        while not stop.requested:
            t = time.time()
            status = fetch(args.url, args.interval * 4)
            out.write(json.dumps({"t": round(t, 6), "ok": status == 200, "status": status}) + "\n")
            next_due += args.interval
            left = next_due - time.monotonic()
            if left > 0:
                time.sleep(left)
            elif left < -1.0:  # suspended for a while: do not burst
                next_due = time.monotonic()
    return 0


if __name__ == "__main__":
    sys.exit(main())
