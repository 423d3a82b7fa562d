"""Reading an interface and its IPv4 addresses from ``ip -j addr show dev IF``."""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass

from twinstar.engine.proc import ProgramRunner
from twinstar.errors import ProgramError, TwinstarError


class LinkError(TwinstarError):
    """The interface is missing or ``ip`` printed something unreadable."""


@dataclass(frozen=True)
class Link:
    """One interface as ``ip`` reports it."""

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


def parse_addr_show(text: str, interface: str) -> Link:
    """Parse ``ip -j addr show dev IF`` output."""
    try:
        data = json.loads(text)
        entry = next(e for e in data if e.get("ifname") == interface)
        addresses = tuple(
            ipaddress.IPv4Interface(f"{a['local']}/{a['prefixlen']}")
            for a in entry.get("addr_info", ())
            if a.get("family") == "inet"
        )
        return Link(
            name=interface,
            flags=tuple(str(f) for f in entry.get("flags", ())),
            operstate=str(entry.get("operstate", "UNKNOWN")),
            addresses=addresses,
        )
    except (ValueError, TypeError, KeyError, AttributeError, StopIteration):
        raise LinkError(f"cannot read the output of ip -j addr show dev {interface}") from None


def read_link(runner: ProgramRunner, interface: str, *, timeout: float) -> Link:
    """The interface's current state; :class:`LinkError` when it does not exist."""
    result = runner.run(["ip", "-j", "addr", "show", "dev", interface], timeout=timeout, ok_codes=None, quiet=True)
    if result.returncode != 0:
        if "does not exist" in result.stderr:
            raise LinkError(
                f"interface {interface} does not exist",
                hint="check the ip step's interface: in the configuration (ip link shows the names)",
            )
        raise ProgramError(f"ip -j addr show dev {interface} failed: {result.output or result.returncode}")
    return parse_addr_show(result.stdout, interface)
