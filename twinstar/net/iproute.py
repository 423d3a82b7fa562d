"""An interface and its IPv4 addresses, read and changed as ``ip -j addr show``, ``ip addr add`` and ``ip addr del`` do.

Over rtnetlink (``RTM_GETLINK`` for the interface, an ``RTM_GETADDR`` dump
for its IPv4 addresses; ``RTM_NEWADDR``, ``RTM_DELADDR``), in this process: no
program start on a takeover's path, where the ip step's check, its early
probe, its apply and its verify each read or change the interface. The same
requests ``ip`` sends, to the same kernel.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
import struct
from collections.abc import Iterator
from dataclasses import dataclass

from twinstar.errors import TwinstarError


class LinkError(TwinstarError):
    """The interface is missing or cannot be read."""


@dataclass(frozen=True)
class Link:
    """One interface as ``ip`` reports it: its flags and operational state by ``ip``'s names, its IPv4 addresses."""

    name: str
    flags: tuple[str, ...]
    operstate: str
    addresses: tuple[ipaddress.IPv4Interface, ...]

    @property
    def admin_up(self) -> bool:
        return "UP" in self.flags

    @property
    def carrier(self) -> bool:
        return "LOWER_UP" in self.flags

    def has(self, address: ipaddress.IPv4Interface) -> bool:
        """Is exactly this address/prefix assigned?"""
        return address in self.addresses

    def same_ip(self, address: ipaddress.IPv4Interface) -> ipaddress.IPv4Interface | None:
        """The assigned entry with the same IP, whatever its prefix."""
        return next((a for a in self.addresses if a.ip == address.ip), None)


#: rtnetlink message types and flags (linux/rtnetlink.h, linux/netlink.h).
_RTM_NEWLINK, _RTM_GETLINK, _RTM_NEWADDR, _RTM_DELADDR, _RTM_GETADDR = 16, 18, 20, 21, 22
_NLMSG_ERROR, _NLMSG_DONE = 2, 3
_NLM_F_REQUEST, _NLM_F_ACK, _NLM_F_DUMP, _NLM_F_EXCL, _NLM_F_CREATE = 0x1, 0x4, 0x300, 0x200, 0x400
_IFLA_OPERSTATE = 16
_IFA_ADDRESS, _IFA_LOCAL = 1, 2
_HEADER = struct.Struct("=IHHII")  # nlmsghdr: length, type, flags, sequence, port
_IFINFO = struct.Struct("=BxHiII")  # ifinfomsg: family, type, index, flags, change
_IFADDR = struct.Struct("=BBBBI")  # ifaddrmsg: family, prefix length, flags, scope, index
_ATTR = struct.Struct("=HH")  # rtattr: length, type
#: Interface flags by the names ``ip`` prints (linux/if.h).
FLAG_NAMES = (
    (0x1, "UP"), (0x2, "BROADCAST"), (0x8, "LOOPBACK"), (0x10, "POINTOPOINT"), (0x80, "NOARP"),
    (0x100, "PROMISC"), (0x200, "ALLMULTI"), (0x1000, "MULTICAST"), (0x10000, "LOWER_UP"), (0x20000, "DORMANT"),
)  # fmt: skip
#: IFLA_OPERSTATE's values by the names ``ip`` prints (RFC 2863).
OPERSTATES = ("UNKNOWN", "NOTPRESENT", "DOWN", "LOWERLAYERDOWN", "TESTING", "DORMANT", "UP")


def _attributes(data: bytes, offset: int) -> Iterator[tuple[int, bytes]]:
    while offset + _ATTR.size <= len(data):
        length, kind = _ATTR.unpack_from(data, offset)
        if length < _ATTR.size:
            return
        yield kind, data[offset + _ATTR.size : offset + length]
        offset += (length + 3) & ~3


def _messages(sock: socket.socket, sequence: int, interface: str) -> Iterator[tuple[int, bytes]]:
    """The answers to request ``sequence``: (type, payload) until the answer is complete."""
    while True:
        data = sock.recv(65536)
        offset = 0
        while offset + _HEADER.size <= len(data):
            length, kind, flags, seq, _ = _HEADER.unpack_from(data, offset)
            if length < _HEADER.size:
                raise LinkError(f"interface {interface}: a malformed netlink answer")
            payload = data[offset + _HEADER.size : offset + length]
            offset += (length + 3) & ~3
            if seq != sequence:
                continue
            if kind == _NLMSG_DONE:
                return
            if kind == _NLMSG_ERROR:
                code = -struct.unpack_from("=i", payload)[0]
                if code == 0:
                    return
                if code == errno.ENODEV:
                    raise _missing(interface)
                raise LinkError(f"interface {interface}: {os.strerror(code)}")
            yield kind, payload
            if not flags & 0x2:  # NLM_F_MULTI: a single answer
                return


def _missing(interface: str) -> LinkError:
    return LinkError(
        f"interface {interface} does not exist",
        hint="check the ip step's interface: in the configuration (ip link shows the names)",
    )


def read_link(interface: str) -> Link:
    """The interface's current state; :class:`LinkError` when it does not exist or cannot be read."""
    index = _index(interface)
    try:
        with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, socket.NETLINK_ROUTE) as sock:
            header = _HEADER.pack(_HEADER.size + _IFINFO.size, _RTM_GETLINK, _NLM_F_REQUEST, 1, 0)
            sock.send(header + _IFINFO.pack(socket.AF_UNSPEC, 0, index, 0, 0))
            flags, operstate = 0, "UNKNOWN"
            for kind, payload in _messages(sock, 1, interface):
                if kind != _RTM_NEWLINK or len(payload) < _IFINFO.size:
                    continue
                _, _, found, flags, _ = _IFINFO.unpack_from(payload)
                if found != index:
                    raise _missing(interface)  # renamed or gone and its index reused meanwhile
                for attr, value in _attributes(payload, _IFINFO.size):
                    if attr == _IFLA_OPERSTATE and value:
                        operstate = OPERSTATES[value[0]] if value[0] < len(OPERSTATES) else "UNKNOWN"
            header = _HEADER.pack(_HEADER.size + _IFADDR.size, _RTM_GETADDR, _NLM_F_REQUEST | _NLM_F_DUMP, 2, 0)
            sock.send(header + _IFADDR.pack(socket.AF_INET, 0, 0, 0, 0))
            addresses = []
            for kind, payload in _messages(sock, 2, interface):
                if kind != _RTM_NEWADDR or len(payload) < _IFADDR.size:
                    continue
                family, prefix, _, _, owner = _IFADDR.unpack_from(payload)
                if family != socket.AF_INET or owner != index:
                    continue
                attrs = dict(_attributes(payload, _IFADDR.size))
                local = attrs.get(_IFA_LOCAL, attrs.get(_IFA_ADDRESS))
                if local is not None and len(local) == 4:
                    addresses.append(ipaddress.IPv4Interface((ipaddress.IPv4Address(local), prefix)))
    except OSError as exc:
        raise LinkError(f"interface {interface}: {exc.strerror}") from None
    return Link(
        name=interface,
        flags=tuple(name for bit, name in FLAG_NAMES if flags & bit),
        operstate=operstate,
        addresses=tuple(addresses),
    )


def _index(interface: str) -> int:
    try:
        return socket.if_nametoindex(interface)
    except OSError:
        raise _missing(interface) from None


def _change(kind: int, flags: int, interface: str, address: ipaddress.IPv4Interface) -> None:
    """Send one address request for ``interface`` and wait for the kernel's answer; LinkError when it says no."""
    index = _index(interface)
    ip = address.ip.packed
    attrs = b"".join(_ATTR.pack(_ATTR.size + len(ip), attr) + ip for attr in (_IFA_LOCAL, _IFA_ADDRESS))
    body = _IFADDR.pack(socket.AF_INET, address.network.prefixlen, 0, 0, index) + attrs
    try:
        with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, socket.NETLINK_ROUTE) as sock:
            sock.send(_HEADER.pack(_HEADER.size + len(body), kind, _NLM_F_REQUEST | _NLM_F_ACK | flags, 1, 0) + body)
            for _ in _messages(sock, 1, interface):
                pass
    except OSError as exc:
        raise LinkError(f"interface {interface}: {exc.strerror}") from None


def add_address(interface: str, address: ipaddress.IPv4Interface) -> None:
    """``ip addr add ADDRESS/PREFIX dev INTERFACE``: LinkError when it is there already or cannot be added."""
    _change(_RTM_NEWADDR, _NLM_F_CREATE | _NLM_F_EXCL, interface, address)


def delete_address(interface: str, address: ipaddress.IPv4Interface) -> None:
    """``ip addr del ADDRESS/PREFIX dev INTERFACE``: LinkError when it is not there or cannot be removed."""
    _change(_RTM_DELADDR, 0, interface, address)
