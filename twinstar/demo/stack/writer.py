"""The demo's database client: commits one row every 10 ms and logs each acknowledged id.

    /usr/bin/python3 writer.py --host ADDR --out FILE [--interval 0.01]

Runs under the system's Python with PyMySQL (Debian's ``python3-pymysql``),
so it imports nothing else: it is started as a script, by path. Each row is
``(id, time)`` inserted with autocommit; the id is written to FILE only after
the server acknowledged the commit (``{"t": ..., "ack": id}``). On any error
the connection is dropped and made again every ``--interval`` (connect and
read timeouts short, so a dead server is noticed quickly); after each
connection the ids go on after the table's highest, so an id whose commit
was not acknowledged is never reused. Runs until SIGTERM.
"""

from __future__ import annotations

import argparse
import importlib
import json
import signal
import sys
import time
from typing import Any, TextIO

DATABASE = "tw"
TABLE = "t"
USER = "tw"
PASSWORD = "twinstar-demo"
CONNECT_TIMEOUT = 0.2
IO_TIMEOUT = 0.5


def record(out: TextIO, **fields: Any) -> None:
    out.write(json.dumps({"t": round(time.time(), 6), **fields}) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="writer.py")
    parser.add_argument("--host", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--interval", type=float, default=0.01)
    args = parser.parse_args(argv)
    pymysql = importlib.import_module("pymysql")  # the system's package; not in twinstar's environment
    running = True

    def stop(signum: int, frame: object) -> None:
        nonlocal running
        running = False

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    conn: Any = None
    next_id = 0
    with open(args.out, "a", buffering=1) as out:
        while running:
            if conn is None:
                try:
                    conn = pymysql.connect(
                        host=args.host, user=USER, password=PASSWORD, database=DATABASE, autocommit=True,
                        connect_timeout=CONNECT_TIMEOUT, read_timeout=IO_TIMEOUT, write_timeout=IO_TIMEOUT,
                    )  # fmt: skip
                    with conn.cursor() as cursor:  # ids of an earlier run (or an unacknowledged commit) are taken
                        cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {TABLE}")
                        next_id = max(next_id, int(cursor.fetchone()[0]))
                    record(out, connected=True, last_id=next_id)
                except Exception:  # noqa: BLE001 - any failure means: not yet
                    conn = None
                    time.sleep(args.interval)
                    continue
            next_id += 1
            try:
                with conn.cursor() as cursor:
                    cursor.execute(f"INSERT INTO {TABLE} VALUES (%s, %s)", (next_id, time.time()))
            except Exception as exc:  # noqa: BLE001 - the server went away or refused: reconnect
                record(out, failed=next_id, error=f"{type(exc).__name__}: {str(exc)[:120]}")
                try:
                    conn.close()
                except Exception:  # noqa: BLE001, S110 - already broken
                    pass
                conn = None
                continue
            record(out, ack=next_id)
            time.sleep(args.interval)
    return 0


if __name__ == "__main__":
    sys.exit(main())
