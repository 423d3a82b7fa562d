"""``twinstar demo``: two-server failover on one machine, with only the hardware simulated.

Two server hosts and a client host are network namespaces joined by a bridge;
Astribank units are the USB simulator's state file plus one fake sysfs tree per
server; a simulated-hardware process plays the units and the kernel driver and
runs each server's real ``atribank_hook``. Everything above that boundary is
the production code: the hook, the takeover engine, the drbd, ip, command
and service steps, ``twinstar replica`` and ``twinstar switchover``.

What the servers serve is the stack (:mod:`.stacks`): a small responder, or
the real PBX stack (:mod:`.stack`: Kamailio, MariaDB and Apache under each
server's own systemd, in a container of :mod:`.containers`).
"""
