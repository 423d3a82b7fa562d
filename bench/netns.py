"""Network namespaces for the benchmarks: ``ip`` itself, a pair joined by a veth, their removal."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterable, Iterator
from contextlib import contextmanager


def ip(*args: str) -> None:
    """Run ``ip`` with ``args`` (argv, no shell); a failure raises with its message."""
    subprocess.run(["ip", *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=10)


def add(ns: str) -> None:
    """A new namespace ``ns``, its loopback up."""
    ip("netns", "add", ns)
    ip("-n", ns, "link", "set", "lo", "up")


def build_pair(node: str, peer: str, node_address: str, peer_address: str) -> None:
    """Namespaces ``node`` and ``peer``, each with an ``eth0`` up, the two ends of one veth, with these addresses (CIDR)."""
    for ns in (node, peer):
        add(ns)
    ip("-n", node, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", peer)
    ip("-n", node, "addr", "add", node_address, "dev", "eth0")
    ip("-n", peer, "addr", "add", peer_address, "dev", "eth0")
    for ns in (node, peer):
        ip("-n", ns, "link", "set", "eth0", "up")


def listed() -> list[str]:
    """The names of the namespaces there are."""
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def teardown(namespaces: Iterable[str]) -> None:
    """Kill every process left in those of ``namespaces`` there are (by PID), then delete them."""
    there = listed()
    for ns in namespaces:
        if ns not in there:
            continue
        for pid in subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout.split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass
        subprocess.run(["ip", "netns", "del", ns], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@contextmanager
def veth_pair(node: str, peer: str, node_address: str, peer_address: str) -> Iterator[None]:
    """:func:`build_pair` (after removing what a run before left), removed again at the end, on failure and on Ctrl-C."""
    teardown((node, peer))
    try:
        build_pair(node, peer, node_address, peer_address)
        yield
    finally:
        teardown((node, peer))
