"""Gratuitous ARP announcements for the shared address.

The takeover sends the first announcement itself (one frame, microseconds)
and hands the remaining ones to a detached process (new session, stdio on
/dev/null), so they never sit on the takeover's critical path::

    python -m twinstar.net.garp --interface eth0 --address 192.0.2.10/24 \\
        --count 4 --interval 1 --delay 1 --ip /usr/sbin/ip

Before each frame the detached sender checks that the address is still
assigned to the interface and stops when it is not: after a release it must
never announce an address this node no longer owns.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from twinstar.errors import TwinstarError
from twinstar.net import arp
from twinstar.net.iproute import read_link
from twinstar.net.rawsock import ArpSocket
from twinstar.proc import ProgramRunner, clean_env

log = logging.getLogger("twinstar.net.garp")


def announce(
    interface: str,
    address: ipaddress.IPv4Address,
    *,
    count: int = 1,
    interval: float = 1.0,
    still_assigned: Callable[[], bool] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Send ``count`` announcements ``interval`` apart; the number actually sent.

    Stops early when ``still_assigned`` returns False.
    """
    sent = 0
    with ArpSocket(interface) as sock:
        packet = arp.announcement(sock.mac, address)
        for i in range(count):
            if i:
                sleep(interval)
            if still_assigned is not None and not still_assigned():
                break
            sock.send(packet)
            sent += 1
    return sent


def spawn(
    interface: str,
    address: ipaddress.IPv4Interface,
    *,
    count: int,
    interval: float,
    delay: float,
    ip_program: str,
) -> subprocess.Popen[bytes]:
    """Start the detached sender of ``count`` announcements; returns at once.

    The child runs in its own session with stdio on /dev/null; a daemon
    thread reaps it so a long-running parent keeps no zombie.
    """
    argv = [
        sys.executable,
        "-m",
        "twinstar.net.garp",
        "--interface",
        interface,
        "--address",
        address.with_prefixlen,
        "--count",
        str(count),
        "--interval",
        repr(interval),
        "--delay",
        repr(delay),
        "--ip",
        ip_program,
    ]
    package_root = str(Path(__file__).resolve().parents[2])
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        close_fds=True,
        start_new_session=True,
        cwd="/",
        env=clean_env({"PYTHONPATH": package_root}),
    )
    threading.Thread(target=proc.wait, name=f"garp-reaper-{proc.pid}", daemon=True).start()
    return proc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m twinstar.net.garp", description=__doc__.splitlines()[0])
    parser.add_argument("--interface", required=True)
    parser.add_argument("--address", required=True, type=ipaddress.IPv4Interface, help="ADDRESS/PREFIX")
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--delay", type=float, default=0.0, help="wait this long before the first frame")
    parser.add_argument("--ip", default="ip", help="the ip program used to check the address is still assigned")
    args = parser.parse_args(argv)
    runner = ProgramRunner(programs={"ip": args.ip} if "/" in args.ip else {})

    def still_assigned() -> bool:
        try:
            return read_link(runner, args.interface, timeout=5.0).has(args.address)
        except TwinstarError:
            return False

    if args.delay > 0:
        time.sleep(args.delay)
    try:
        announce(
            args.interface,
            args.address.ip,
            count=args.count,
            interval=args.interval,
            still_assigned=still_assigned,
        )
    except TwinstarError as exc:
        print(f"twinstar.net.garp: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
