"""The demo's network: two servers and a client as namespaces on one bridge.

The bridge lives in a fourth namespace (the "switch"), so nothing is ever
created in the machine's own network namespace: each host's ``eth0`` is a veth
whose peer is a port of the switch's bridge. Addresses come from
10.213.0.0/24 only; the shared service address is 10.213.0.100.
"""

from __future__ import annotations

import functools
import ipaddress
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from twinstar.demo.cleanup import CleanupRegistry
from twinstar.engine.proc import ProgramRunner
from twinstar.errors import ProgramError, TwinstarError

NETWORK = ipaddress.IPv4Network("10.213.0.0/24")
SHARED = ipaddress.IPv4Interface("10.213.0.100/24")
INTERFACE = "eth0"
NETNS_DIR = "/run/netns"


@dataclass(frozen=True)
class Host:
    """One simulated machine: its namespace, address and switch port."""

    key: str  # a, b, c
    name: str  # pbx-a, pbx-b, client
    netns: str
    address: ipaddress.IPv4Interface
    port: str  # the veth end on the switch's bridge


@dataclass(frozen=True)
class Topology:
    prefix: str
    switch: str
    a: Host
    b: Host
    c: Host
    shared: ipaddress.IPv4Interface = SHARED

    @property
    def servers(self) -> tuple[Host, Host]:
        return (self.a, self.b)

    @property
    def namespaces(self) -> tuple[str, ...]:
        return (self.a.netns, self.b.netns, self.c.netns, self.switch)

    def server(self, key: str) -> Host:
        return {"a": self.a, "b": self.b}[key]


#: How many names :func:`free_prefix` tries before it gives up.
PREFIX_TRIES = 100


def run_name(pid: int, n: int = 1) -> str:
    """The name of the demo run of process ``pid`` (pure): ``tsdemo-PID``, the ``n``-th ``tsdemo-PID-N``."""
    return f"tsdemo-{pid}" if n == 1 else f"tsdemo-{pid}-{n}"


def free_prefix(pid: int, taken: Callable[[str], bool]) -> str:
    """The first :func:`run_name` of ``pid`` that ``taken`` does not say an earlier run, killed before its
    cleanup, left something of (the process id was used again)."""
    for n in range(1, PREFIX_TRIES + 1):
        if not taken(prefix := run_name(pid, n)):
            return prefix
    raise TwinstarError(
        f"{run_name(pid)} to {run_name(pid, PREFIX_TRIES)} are all taken by earlier demos' namespaces, directories or cgroups",
        hint="remove what killed demos left: ip netns list, the tsdemo-* directories and cgroups",
    )


def plan(pid: int | None = None, *, prefix: str | None = None) -> Topology:
    """Names and addresses for one demo run (pure): ``prefix`` (default ``tsdemo-PID``) names its parts."""
    if prefix is None:
        prefix = run_name(os.getpid() if pid is None else pid)

    def host(key: str, name: str, last: int) -> Host:
        return Host(key, name, f"{prefix}-{key}", ipaddress.IPv4Interface(f"{NETWORK[last]}/24"), f"port-{key}")

    return Topology(
        prefix=prefix,
        switch=f"{prefix}-sw",
        a=host("a", "pbx-a", 1),
        b=host("b", "pbx-b", 2),
        c=host("c", "client", 10),
    )


def in_netns(netns: str, argv: Sequence[str]) -> list[str]:
    """``argv`` run inside ``netns`` only (the mount namespace stays the machine's).

    ``ip netns exec`` would also give the program a private mount namespace,
    hiding the replica's mount from everyone else; ``nsenter --net`` does not.
    """
    return ["nsenter", f"--net={NETNS_DIR}/{netns}", "--", *argv]


def build(topo: Topology, runner: ProgramRunner, cleanup: CleanupRegistry) -> None:
    """Create the namespaces, the bridge and one veth per host, addresses up."""

    def ip(*args: str) -> None:
        runner.run(["ip", *args], timeout=10, quiet=True)

    for ns in (topo.switch, topo.a.netns, topo.b.netns, topo.c.netns):
        # Registered first: a Ctrl-C right after the namespace appears must not leave it.
        cleanup.add(f"network namespace {ns}", functools.partial(delete_netns, runner, ns))
        ip("netns", "add", ns)
        ip("-n", ns, "link", "set", "lo", "up")
    ip("-n", topo.switch, "link", "add", "br0", "type", "bridge")
    ip("-n", topo.switch, "link", "set", "br0", "up")
    for host in (topo.a, topo.b, topo.c):
        connect(topo, host, runner)


def connect(topo: Topology, host: Host, runner: ProgramRunner) -> None:
    """Cable ``host`` to the switch and give it its own address."""

    def ip(*args: str) -> None:
        runner.run(["ip", *args], timeout=10, quiet=True)

    ip("-n", topo.switch, "link", "add", host.port, "type", "veth", "peer", "name", INTERFACE, "netns", host.netns)
    ip("-n", topo.switch, "link", "set", host.port, "master", "br0", "up")
    ip("-n", host.netns, "addr", "add", host.address.with_prefixlen, "dev", INTERFACE)
    ip("-n", host.netns, "link", "set", INTERFACE, "up")


def unplug(topo: Topology, host: Host, runner: ProgramRunner) -> None:
    """The host's interface goes away (and with it every address on it)."""
    runner.run(["ip", "-n", topo.switch, "link", "del", host.port], timeout=10, quiet=True)


def netns_exists(netns: str) -> bool:
    return os.path.exists(os.path.join(NETNS_DIR, netns))


def delete_netns(runner: ProgramRunner, netns: str) -> None:
    """Delete ``netns`` if it exists (its veths go with it)."""
    if not netns_exists(netns):
        return
    try:
        runner.run(["ip", "netns", "del", netns], timeout=10, quiet=True)
    except ProgramError:
        if os.path.exists(os.path.join(NETNS_DIR, netns)):
            raise


def netns_pids(runner: ProgramRunner, netns: str) -> list[int]:
    """Processes living in ``netns`` right now."""
    if not os.path.exists(os.path.join(NETNS_DIR, netns)):
        return []
    result = runner.run(["ip", "netns", "pids", netns], timeout=10, ok_codes=None, quiet=True)
    return [int(p) for p in result.stdout.split() if p.isdigit()]
