"""Captures ARP frames on one interface for the tests (run inside the peer namespace).

``python arp_capture.py IFACE OUTFILE``: prints ``ready`` once listening,
then appends each received frame as one hex line to OUTFILE until killed.
Deliberately independent of twinstar.net: it records raw bytes only.
"""

from __future__ import annotations

import socket
import sys

ETH_P_ARP = 0x0806


def main() -> int:
    iface, outfile = sys.argv[1], sys.argv[2]
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ARP))
    sock.bind((iface, ETH_P_ARP))
    print("ready", flush=True)
    with open(outfile, "a") as out:
        while True:
            frame, addr = sock.recvfrom(2048)
            if addr[2] == socket.PACKET_OUTGOING:
                continue
            out.write(frame.hex() + "\n")
            out.flush()


if __name__ == "__main__":
    sys.exit(main())
