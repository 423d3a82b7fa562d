"""Duplicate-address detection (RFC 5227 probe) before the shared address is added.

:func:`probe` asks for a fixed time. :func:`watch` asks the same way, then
goes on asking until it is told to end (:class:`Wake`): started when a unit
arrives, it listens until the takeover adds the address, so its answer is as
fresh as a probe run at that moment, however long the units took.
"""

from __future__ import annotations

import ipaddress
import os
import select
import threading
import time
from collections.abc import Callable

from twinstar.net import arp
from twinstar.net.rawsock import ArpSocket

#: After its first ``timeout``, :func:`watch` probes no more often than this (seconds): 5 frames a
#: second at most, well under the 15 ARP frames a second that switches' ARP inspection
#: commonly allows an untrusted port before shutting it.
WATCH_INTERVAL = 0.2


class Wake:
    """Tells a :func:`watch` in another thread to end: an eventfd its ``select`` waits on too.

    :meth:`set` after :meth:`close` does nothing, so the thread that ends
    the watch may close it while another still holds the means to end it.
    """

    def __init__(self) -> None:
        self._fd: int | None = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
        self._lock = threading.Lock()

    def fileno(self) -> int:
        fd = self._fd
        if fd is None:
            raise ValueError("wake-up closed")
        return fd

    def set(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.eventfd_write(self._fd, 1)

    def is_set(self) -> bool:
        with self._lock:
            return self._fd is not None and bool(select.select([self._fd], [], [], 0)[0])

    def close(self) -> None:
        with self._lock:
            fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


def probe(sock: ArpSocket, address: ipaddress.IPv4Address, *, timeout: float, probes: int = 3) -> bytes | None:
    """Ask on ``sock`` who has ``address`` for ``timeout`` seconds; the hardware address that answered, or None.

    Sends ``probes`` probes spread over the timeout (a lost frame must not
    let a duplicate through) and listens the whole time. ``sock`` is left open.
    """
    return _probe(sock, address, timeout=timeout, probes=probes, limit=timeout)


def watch(
    sock: ArpSocket,
    address: ipaddress.IPv4Address,
    *,
    timeout: float,
    wake: Wake,
    limit: float,
    probes: int = 3,
    sent: Callable[[], object] | None = None,
) -> bytes | None:
    """:func:`probe` on ``sock`` that goes on until ``wake`` is set (but at least ``timeout``), or ``limit`` seconds in all.

    After the first ``timeout``, one probe every ``timeout / probes``
    seconds, or :data:`WATCH_INTERVAL` if that is longer. The answer: the
    hardware address that answered or claimed ``address`` meanwhile (it ends
    the watch at once), or None. ``sent`` is called once the first probe is out.
    """
    return _probe(sock, address, timeout=timeout, probes=probes, limit=max(limit, timeout), wake=wake, sent=sent)


def _probe(
    sock: ArpSocket,
    address: ipaddress.IPv4Address,
    *,
    timeout: float,
    probes: int,
    limit: float,
    wake: Wake | None = None,
    sent: Callable[[], object] | None = None,
) -> bytes | None:
    packet = arp.probe(sock.mac, address)
    count = max(1, probes)
    spaced = max(timeout / count, WATCH_INTERVAL)
    start = time.monotonic()
    least, end = start + timeout, start + limit
    waiting = wake  # None once told to end: then it ends at its timeout, as a probe (no wake) does
    sends, next_send = 0, start
    while True:
        now = time.monotonic()
        if now >= end or (waiting is None and now >= least):
            return None
        if now >= next_send:
            sock.send(packet)
            sends += 1
            if sends == 1 and sent is not None:
                sent()
            next_send = start + timeout * sends / count if sends < count else max(least, now + spaced)
        until = min(next_send, least if waiting is None else end)
        for seen in sock.receive(until, wake=None if waiting is None else waiting.fileno()):
            if arp.conflict(seen, our_mac=sock.mac, address=address):
                return seen.sender_mac
        if waiting is not None and waiting.is_set():
            waiting = None
