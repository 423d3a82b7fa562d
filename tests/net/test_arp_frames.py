"""The ARP frame format, the RFC 5227 conflict rule and adopting a socket (no network needed)."""

from __future__ import annotations

import ipaddress
import os
import socket

import pytest
from hypothesis import given
from hypothesis import strategies as st

from twinstar.net import arp
from twinstar.net.rawsock import ArpSocket, NetError

OURS = bytes.fromhex("020000000001")
THEIRS = bytes.fromhex("020000000002")
ADDR = ipaddress.IPv4Address("10.213.1.10")

macs = st.binary(min_size=6, max_size=6)
ips = st.integers(min_value=0, max_value=2**32 - 1).map(ipaddress.IPv4Address)


@given(op=st.sampled_from(arp.Op), sm=macs, si=ips, tm=macs, ti=ips, src=macs, dst=macs)
def test_build_then_parse_round_trips(op, sm, si, tm, ti, src, dst) -> None:
    packet = arp.ArpPacket(op, sm, si, tm, ti, eth_src=src, eth_dst=dst)
    frame = arp.build(packet)
    assert len(frame) == arp.FRAME_LEN
    assert arp.parse(frame) == packet


def test_probe_layout_matches_rfc_5227() -> None:
    frame = arp.build(arp.probe(OURS, ADDR))
    assert frame[0:6] == b"\xff" * 6 and frame[6:12] == OURS and frame[12:14] == b"\x08\x06"
    assert frame[20:22] == b"\x00\x01"  # request
    assert frame[22:28] == OURS and frame[28:32] == bytes(4)  # sender address 0.0.0.0
    assert frame[32:38] == bytes(6) and frame[38:42] == ADDR.packed


def test_announcement_has_sender_equal_target() -> None:
    packet = arp.parse(arp.build(arp.announcement(OURS, ADDR)))
    assert packet is not None and packet.is_gratuitous and not packet.is_probe
    assert packet.sender_ip == packet.target_ip == ADDR


@pytest.mark.parametrize(
    "packet, expected",
    [
        (arp.ArpPacket(arp.Op.REPLY, THEIRS, ADDR, OURS, arp.ZERO_IP), True),  # answer to our probe
        (arp.announcement(THEIRS, ADDR), True),  # they announce it
        (arp.probe(THEIRS, ADDR), True),  # they probe for it at the same time
        (arp.probe(OURS, ADDR), False),  # our own probe
        (arp.probe(THEIRS, ipaddress.IPv4Address("10.213.1.11")), False),
        (arp.ArpPacket(arp.Op.REQUEST, THEIRS, ipaddress.IPv4Address("10.213.1.2"), arp.ZERO_MAC, ADDR), False),
    ],
)
def test_conflict_rule(packet: arp.ArpPacket, expected: bool) -> None:
    assert arp.conflict(packet, our_mac=OURS, address=ADDR) is expected


@pytest.mark.parametrize("frame", [b"", b"\x00" * 41, arp.build(arp.probe(OURS, ADDR))[:12] + b"\x08\x00" + b"\x00" * 46])
def test_parse_rejects_non_arp(frame: bytes) -> None:
    assert arp.parse(frame) is None


def test_adopting_a_socket_that_is_not_a_packet_socket_is_refused() -> None:
    """The detached announcer's ``--fd`` must be an ARP socket; anything else is a clear error."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        fd = os.dup(udp.fileno())
        with pytest.raises(NetError, match=f"file descriptor {fd} is not a packet socket"):
            ArpSocket("lo", fd=fd)
        with pytest.raises(OSError):
            os.fstat(fd)  # closed by the refusal
