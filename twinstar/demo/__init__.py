"""``twinstar demo``: two-server failover on one machine, with only the hardware simulated.

Two server hosts and a client host are network namespaces joined by a bridge;
Astribank units are the USB simulator's state file plus one fake sysfs tree per
server; a simulated-hardware process plays the units and the kernel driver and
runs each server's real ``atribank_hook``. Everything above that boundary is
the production code: the hook, the takeover engine, the drbd, ip and command
steps, and ``twinstar switchover``.
"""
