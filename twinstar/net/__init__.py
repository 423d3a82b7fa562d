"""Raw-socket ARP for the shared address: duplicate-address probe and gratuitous ARP.

``arp`` holds the pure frame format, ``rawsock`` the AF_PACKET edge, ``dad``
the RFC 5227 probe, ``garp`` the announcements (also runnable as
``python -m twinstar.net.garp`` for the detached sender), ``iproute`` the
reading of ``ip -j addr show``.
"""
