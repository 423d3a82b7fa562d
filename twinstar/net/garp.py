"""Gratuitous ARP announcements for the shared address.

The takeover sends the first announcement itself (one frame, microseconds)
and hands the remaining ones to a detached process (new session, stdio on
/dev/null), so they never sit on the takeover's critical path::

    python -m twinstar.net.garp --interface eth0 --address 192.0.2.10/24 \\
        --count 4 --interval 1 --delay 1 [--fd N]

With ``--fd`` the sender uses the ARP socket it inherited (the takeover's
own, already bound) instead of opening one. Before each frame it checks that
the address is still assigned to the interface (:func:`twinstar.net.iproute.read_link`) and stops when it is not:
after a release it must never announce an address this node no longer owns.

This module is imported by the ip step, so by every takeover: what only the
sender needs is imported in :func:`main`.
"""

from __future__ import annotations

import ipaddress
import os
import sys
import time

from twinstar.net import arp
from twinstar.net.rawsock import ArpSocket

TYPE_CHECKING = False
if TYPE_CHECKING:
    import subprocess
    from collections.abc import Callable


def announce_on(
    sock: ArpSocket,
    address: ipaddress.IPv4Address,
    *,
    count: int = 1,
    interval: float = 1.0,
    still_assigned: Callable[[], bool] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Send ``count`` announcements on ``sock``, ``interval`` apart; the number actually sent.

    Stops early when ``still_assigned`` returns False.
    """
    sent = 0
    packet = arp.announcement(sock.mac, address)
    for i in range(count):
        if i:
            sleep(interval)
        if still_assigned is not None and not still_assigned():
            break
        sock.send(packet)
        sent += 1
    return sent


def announce(interface: str, address: ipaddress.IPv4Address) -> None:
    """Send one announcement on a socket of its own."""
    with ArpSocket(interface) as sock:
        announce_on(sock, address)


def spawn(
    interface: str,
    address: ipaddress.IPv4Interface,
    *,
    count: int,
    interval: float,
    delay: float,
    sock: ArpSocket | None = None,
) -> subprocess.Popen[bytes]:
    """Start the detached sender of ``count`` announcements; returns at once.

    ``sock`` (bound to ``interface``) is handed down to the sender, which
    then holds the last reference to it. The child runs in its own session
    with stdio on /dev/null; a daemon thread reaps it so a long-running
    parent keeps no zombie.
    """
    import subprocess
    import threading

    from twinstar.engine.proc import clean_env

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
    ]
    if sock is not None:
        argv += ["--fd", str(sock.fileno())]
    package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        close_fds=True,
        pass_fds=() if sock is None else (sock.fileno(),),
        start_new_session=True,
        cwd="/",
        env=clean_env({"PYTHONPATH": package_root}),
    )
    threading.Thread(target=proc.wait, name=f"garp-reaper-{proc.pid}", daemon=True).start()
    return proc


def main(argv: list[str] | None = None) -> int:
    import argparse

    from twinstar.errors import TwinstarError
    from twinstar.net.iproute import read_link

    parser = argparse.ArgumentParser(prog="python -m twinstar.net.garp", description=__doc__.splitlines()[0])
    parser.add_argument("--interface", required=True)
    parser.add_argument("--address", required=True, type=ipaddress.IPv4Interface, help="ADDRESS/PREFIX")
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--delay", type=float, default=0.0, help="wait this long before the first frame")
    parser.add_argument("--fd", type=int, help="an inherited ARP socket bound to the interface")
    args = parser.parse_args(argv)
    def still_assigned() -> bool:
        try:
            return read_link(args.interface).has(args.address)
        except TwinstarError:
            return False

    try:
        with ArpSocket(args.interface, fd=args.fd) as sock:
            if args.delay > 0:
                time.sleep(args.delay)
            announce_on(sock, args.address.ip, count=args.count, interval=args.interval, still_assigned=still_assigned)
    except TwinstarError as exc:
        print(f"twinstar.net.garp: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
