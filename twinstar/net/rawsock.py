"""The AF_PACKET edge: an ARP socket bound to one interface."""

from __future__ import annotations

import errno
import select
import socket
import time
from collections.abc import Iterator

from twinstar.errors import TwinstarError
from twinstar.net import arp


class NetError(TwinstarError):
    """The interface cannot be used for ARP (missing, down, not Ethernet)."""


class ArpSocket:
    """A raw socket sending and receiving ARP frames on ``interface``.

    The socket is created for no protocol and bound to ARP on the interface
    in one step: a packet socket created for a protocol is already hooked
    into the receive path, and binding it again makes the kernel wait for
    an RCU grace period (about 10 ms). Closing the last reference to one
    costs such a wait too, so :mod:`twinstar.net.garp` hands the socket to
    its detached sender rather than closing it on the takeover's path.
    """

    def __init__(self, interface: str, *, fd: int | None = None) -> None:
        """Open and bind a new socket, or adopt ``fd``: one already bound to ``interface``."""
        self.interface = interface
        try:
            if fd is None:
                self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
            else:
                self.sock = socket.socket(fileno=fd)
        except OSError as exc:
            raise NetError(f"cannot open a raw ARP socket: {exc.strerror}", hint="run as root") from None
        try:
            if fd is None:
                self.sock.bind((interface, arp.ETH_P_ARP))
            elif self.sock.family != socket.AF_PACKET:
                raise NetError(f"file descriptor {fd} is not a packet socket")
            # (ifname, proto, pkttype, hatype, hwaddr)
            ifname, proto, _, hatype, hwaddr = self.sock.getsockname()
        except OSError as exc:
            self.sock.close()
            if exc.errno == errno.ENODEV:
                raise NetError(f"interface {interface} does not exist") from None
            raise NetError(f"cannot bind an ARP socket to {interface}: {exc.strerror}") from None
        except NetError:
            self.sock.close()
            raise
        if ifname != interface or proto != arp.ETH_P_ARP:
            self.sock.close()
            raise NetError(f"the ARP socket is bound to {ifname} for protocol {proto:#06x}, not to {interface} for ARP")
        if hatype != arp.ARPHRD_ETHER or len(hwaddr) != 6:
            self.sock.close()
            raise NetError(f"interface {interface} is not an Ethernet interface (hardware type {hatype})")
        self.mac: bytes = hwaddr

    def fileno(self) -> int:
        return self.sock.fileno()

    def send(self, packet: arp.ArpPacket) -> None:
        try:
            self.sock.send(arp.build(packet))
        except OSError as exc:
            if exc.errno in (errno.ENETDOWN, errno.ENXIO):
                raise NetError(f"interface {self.interface} is down") from None
            raise NetError(f"cannot send ARP on {self.interface}: {exc.strerror}") from None

    def receive(self, deadline: float, *, wake: int | None = None) -> Iterator[arp.ArpPacket]:
        """ARP packets received from other hosts until ``deadline`` (time.monotonic), or until descriptor ``wake``
        is readable and every frame already waiting is read."""
        watched: list[socket.socket | int] = [self.sock] if wake is None else [self.sock, wake]
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            ready, _, _ = select.select(watched, [], [], left)
            if self.sock not in ready:
                return  # the deadline, or woken with no frame waiting
            frame, addr = self.sock.recvfrom(2048)
            if addr[2] == socket.PACKET_OUTGOING:
                continue
            packet = arp.parse(frame)
            if packet is not None:
                yield packet

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> ArpSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
