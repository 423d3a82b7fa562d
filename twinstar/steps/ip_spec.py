"""The ``ip`` step's configuration: its keys and their rules (read by ``config/``)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from twinstar.schema import DAY, MIN_INTERVAL, Range, number, seconds, text


def _address(raw: str) -> ipaddress.IPv4Interface:
    if "/" not in raw:
        raise ValueError(f"expected an address with prefix length, e.g. 192.0.2.10/24, found {raw!r}")
    try:
        address = ipaddress.IPv4Interface(raw)
    except ValueError as exc:
        raise ValueError(f"invalid IPv4 address/prefix {raw!r}: {exc}") from None
    ip, network = address.ip, address.network
    if (
        network.prefixlen == 0
        or ip.is_multicast
        or ip.is_unspecified
        or ip.is_loopback
        or ip == network.broadcast_address and network.prefixlen < 31
        or ip == network.network_address and network.prefixlen < 31
    ):
        raise ValueError(f"{raw} cannot be a host address")
    return address


def _interface(name: str) -> str:
    if len(name) > 15:
        raise ValueError(f"interface name {name!r} is longer than 15 characters")
    if name in (".", "..") or name.startswith("-") or any(c in name for c in "/: ") or not name.isprintable():
        raise ValueError(f"invalid interface name {name!r}")
    return name


@dataclass(frozen=True)
class IpSpec:
    """Bring up the shared cluster address and announce it."""

    address: ipaddress.IPv4Interface = field(metadata=text(convert=_address, doc="the shared address with its prefix length (CIDR)"))
    interface: str = field(metadata=text(convert=_interface, doc="the interface it is added to"))
    arp_count: int = field(default=5, metadata=number(Range(0, 1000, integer=True), doc="gratuitous ARPs sent after adding the address (0: none)"))
    arp_interval: float = field(default=1.0, metadata=seconds(Range(MIN_INTERVAL, 60), doc="seconds between them"))
    dad_timeout: float = field(default=0.2, metadata=seconds(Range(0, 60), doc="seconds of duplicate-address detection before adding it, at least (0: off); another host answering refuses the step"))
    timeout: float = field(default=10.0, metadata=seconds(Range(0.01, DAY), doc="seconds each ip command may run"))

    kind = "ip"

    @property
    def name(self) -> str:
        return f"ip:{self.address.with_prefixlen}"
