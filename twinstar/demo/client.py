"""The demo's telephone: probes the shared address every 10 ms and records who answered.

    python -m twinstar.demo.client --address 10.213.0.100 --port 5060 --out FILE [--interval 0.01]

Each probe is one UDP datagram carrying a sequence number; an answer counts
for the probe whose number it carries and only when it arrives before the
next probe is due. One JSON line per probe is appended to FILE:
``{"t": wall-clock seconds, "seq": n, "by": "pbx-a" or null}``. Runs until SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import select
import socket
import sys
import time

from twinstar.demo.stopping import StopSignal


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m twinstar.demo.client")
    parser.add_argument("--address", required=True)
    parser.add_argument("--port", type=int, default=5060)
    parser.add_argument("--out", required=True)
    parser.add_argument("--interval", type=float, default=0.01)
    args = parser.parse_args(argv)
    stop = StopSignal()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setblocking(False)
    target = (args.address, args.port)
    seq = 0
    next_due = time.monotonic()
    with open(args.out, "a", buffering=1) as out:
        while not stop.requested:
            seq += 1
            sent = time.time()
            try:
                sock.sendto(f"{seq}".encode(), target)
            except OSError:
                pass  # no route yet: unanswered
            next_due += args.interval
            by = None
            while not stop.requested:
                left = next_due - time.monotonic()
                if left <= 0:
                    break
                try:
                    ready, _, _ = select.select([sock], [], [], left)
                except InterruptedError:
                    continue
                if not ready:
                    break
                try:
                    reply = sock.recv(512).decode(errors="replace").split()
                except OSError:
                    continue
                if len(reply) == 2 and reply[1] == str(seq) and by is None:
                    by = reply[0]
            out.write(json.dumps({"t": round(sent, 6), "seq": seq, "by": by}) + "\n")
            if time.monotonic() > next_due + 1.0:  # suspended for a while: do not burst
                next_due = time.monotonic()
    return 0


if __name__ == "__main__":
    sys.exit(main())
