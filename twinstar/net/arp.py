"""ARP over Ethernet frames (RFC 826, RFC 5227): build and parse, nothing else.

Pure functions on bytes, so the frame format is tested without a network.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass
from enum import IntEnum

ETH_P_ARP = 0x0806
ETH_P_IP = 0x0800
ARPHRD_ETHER = 1
BROADCAST = b"\xff" * 6
ZERO_MAC = b"\x00" * 6
ZERO_IP = ipaddress.IPv4Address("0.0.0.0")

_ETH = struct.Struct("!6s6sH")
_ARP = struct.Struct("!HHBBH6s4s6s4s")
#: Ethernet header + ARP body; shorter frames are padded to 60 bytes by us.
FRAME_LEN = 60


class Op(IntEnum):
    REQUEST = 1
    REPLY = 2


@dataclass(frozen=True)
class ArpPacket:
    """One ARP packet for IPv4 over Ethernet, with its Ethernet source."""

    op: Op
    sender_mac: bytes
    sender_ip: ipaddress.IPv4Address
    target_mac: bytes
    target_ip: ipaddress.IPv4Address
    eth_src: bytes = ZERO_MAC
    eth_dst: bytes = BROADCAST

    @property
    def is_probe(self) -> bool:
        """An RFC 5227 probe: a request from 0.0.0.0."""
        return self.op == Op.REQUEST and self.sender_ip == ZERO_IP

    @property
    def is_gratuitous(self) -> bool:
        """An announcement: sender and target address are the same."""
        return self.sender_ip == self.target_ip and self.sender_ip != ZERO_IP


def mac_text(mac: bytes) -> str:
    """``aa:bb:cc:dd:ee:ff``."""
    return ":".join(f"{b:02x}" for b in mac)


def build(packet: ArpPacket) -> bytes:
    """The Ethernet frame carrying ``packet``, padded to the minimum frame size."""
    eth = _ETH.pack(packet.eth_dst, packet.eth_src, ETH_P_ARP)
    body = _ARP.pack(
        ARPHRD_ETHER,
        ETH_P_IP,
        6,
        4,
        int(packet.op),
        packet.sender_mac,
        packet.sender_ip.packed,
        packet.target_mac,
        packet.target_ip.packed,
    )
    frame = eth + body
    return frame + b"\x00" * (FRAME_LEN - len(frame))


def parse(frame: bytes) -> ArpPacket | None:
    """The ARP packet in an Ethernet frame, or None when it is not IPv4-over-Ethernet ARP."""
    if len(frame) < _ETH.size + _ARP.size:
        return None
    dst, src, ethertype = _ETH.unpack_from(frame, 0)
    if ethertype != ETH_P_ARP:
        return None
    htype, ptype, hlen, plen, op, sha, spa, tha, tpa = _ARP.unpack_from(frame, _ETH.size)
    if htype != ARPHRD_ETHER or ptype != ETH_P_IP or hlen != 6 or plen != 4:
        return None
    if op not in (Op.REQUEST, Op.REPLY):
        return None
    return ArpPacket(
        op=Op(op),
        sender_mac=sha,
        sender_ip=ipaddress.IPv4Address(spa),
        target_mac=tha,
        target_ip=ipaddress.IPv4Address(tpa),
        eth_src=src,
        eth_dst=dst,
    )


def probe(our_mac: bytes, address: ipaddress.IPv4Address) -> ArpPacket:
    """RFC 5227 probe for ``address``: who has it? (sender address 0.0.0.0)."""
    return ArpPacket(Op.REQUEST, our_mac, ZERO_IP, ZERO_MAC, address, eth_src=our_mac)


def announcement(our_mac: bytes, address: ipaddress.IPv4Address) -> ArpPacket:
    """RFC 5227 announcement (gratuitous ARP request) for ``address``."""
    return ArpPacket(Op.REQUEST, our_mac, address, ZERO_MAC, address, eth_src=our_mac)


def conflict(packet: ArpPacket, *, our_mac: bytes, address: ipaddress.IPv4Address) -> bool:
    """Does ``packet``, seen while probing, show another host using or claiming ``address``?

    RFC 5227 2.1.1: any ARP packet whose sender address is ours, or a probe
    for our address from another hardware address.
    """
    if packet.sender_mac == our_mac:
        return False
    if packet.sender_ip == address:
        return True
    return packet.is_probe and packet.target_ip == address
