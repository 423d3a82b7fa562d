"""Duplicate-address detection (RFC 5227 probe) before the shared address is added."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable

from twinstar.net import arp
from twinstar.net.rawsock import ArpSocket


def probe(
    interface: str,
    address: ipaddress.IPv4Address,
    *,
    timeout: float,
    probes: int = 3,
    sock: ArpSocket | None = None,
    sent: Callable[[], object] | None = None,
) -> bytes | None:
    """Ask who has ``address`` for ``timeout`` seconds; the hardware address that answered, or None.

    Sends ``probes`` probes spread over the timeout (a lost frame must not
    let a duplicate through) and listens the whole time. ``sock`` is an open
    ARP socket on ``interface`` to use (left open); without one, a socket of
    its own is opened and closed. ``sent`` is called once the first probe is out.
    """
    if sock is None:
        with ArpSocket(interface) as own:
            return _probe(own, address, timeout, probes, sent)
    return _probe(sock, address, timeout, probes, sent)


def _probe(
    sock: ArpSocket, address: ipaddress.IPv4Address, timeout: float, probes: int, sent: Callable[[], object] | None
) -> bytes | None:
    packet = arp.probe(sock.mac, address)
    start = time.monotonic()
    end = start + timeout
    for i in range(max(1, probes)):
        sock.send(packet)
        if i == 0 and sent is not None:
            sent()
        next_send = start + timeout * (i + 1) / max(1, probes) if i + 1 < probes else end
        for seen in sock.receive(min(next_send, end)):
            if arp.conflict(seen, our_mac=sock.mac, address=address):
                return seen.sender_mac
    return None
