"""The ``ip`` step's duplicate-address detection started early (``start_early``) and collected by apply.

Real: two network namespaces (``tspg-...``) joined by a veth pair,
10.213.42.0/24 inside them only, the raw ARP probe, ``ip``; the step runs
in namespace A through tests/steps/ip_harness.py, unchanged. Nothing is a
stand-in.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.rigs import Pair, netns_pair, run

HERE = Path(__file__).resolve().parent
ADDRESS = "10.213.42.10/24"

pytestmark = pytest.mark.privileged


@pytest.fixture
def pair() -> Iterator[Pair]:
    with netns_pair("10.213.42.2/24", prefix="tspg") as p:
        yield p


def harness(pair: Pair, tmp_path: Path, actions: list[object], watch_limit: float | None = None, **options: object) -> list[dict[str, object]]:
    req: dict[str, object] = {"address": ADDRESS, "interface": pair.if_a, "state_dir": str(tmp_path), "options": options, "actions": actions}
    if watch_limit is not None:
        req["watch_limit"] = watch_limit  # 0: the probe ends after its dad_timeout, as if it had reached its limit
    proc = subprocess.run(
        ["ip", "netns", "exec", pair.a, sys.executable, str(HERE / "ip_harness.py"), json.dumps(req)],
        capture_output=True, text=True, timeout=60, cwd=HERE.parent.parent,
    )
    assert proc.returncode == 0, proc.stderr
    result: list[dict[str, object]] = json.loads(proc.stdout)
    return result


def test_an_early_probe_finding_the_address_owned_makes_apply_refuse(pair: Pair, tmp_path: Path) -> None:
    """The peer answered while the takeover began; it let go of the address since, but A's link reads the same: refused as then."""
    run("ip", "-n", pair.b, "addr", "add", ADDRESS, "dev", pair.if_b)
    mac_b = ":".join(f"{b:02x}" for b in pair.mac(pair.b, pair.if_b))
    drop = ["ip", "-n", pair.b, "addr", "del", ADDRESS, "dev", pair.if_b]
    *_, apply = harness(pair, tmp_path, ["start_early", "wait_early", drop, "check", "apply"], dad_timeout=0.3, arp_count=1)
    assert apply["ok"] is False and apply["type"] == "RefusedError" and apply["exit_status"] == 3, apply
    assert mac_b in str(apply["error"])
    assert ADDRESS not in pair.addresses(pair.a, pair.if_a)


def test_an_early_probe_read_on_another_link_state_is_not_used(pair: Pair, tmp_path: Path) -> None:
    """Nobody answered while the takeover began (the probe has ended); since, the peer took the address and A's link changed:
    apply probes again, refused."""
    take = ["ip", "-n", pair.b, "addr", "add", ADDRESS, "dev", pair.if_b]
    other = ["ip", "-n", pair.a, "addr", "add", "10.213.42.99/24", "dev", pair.if_a]
    actions = ["start_early", "wait_early", take, other, "check", "apply"]
    *_, apply = harness(pair, tmp_path, actions, watch_limit=0.0, dad_timeout=0.3, arp_count=1)
    assert apply["ok"] is False and apply["type"] == "RefusedError", apply
    assert ADDRESS not in pair.addresses(pair.a, pair.if_a)


def test_an_early_probe_finding_no_owner_lets_apply_add_the_address(pair: Pair, tmp_path: Path) -> None:
    *_, apply, verify = harness(pair, tmp_path, ["start_early", "check", "apply", "verify"], dad_timeout=0.3, arp_count=1)
    assert apply["ok"] and verify["ok"], (apply, verify)
    assert ADDRESS in pair.addresses(pair.a, pair.if_a)


def test_apply_announces_on_the_early_probes_socket_and_hands_it_to_the_detached_sender(pair: Pair, tmp_path: Path) -> None:
    """No new socket on the takeover's path (closing one waits for an RCU grace period): the sender inherits the probe's."""
    *_, apply, held = harness(pair, tmp_path, ["start_early", "check", "apply", "packet_sockets"], dad_timeout=0.3, arp_count=3, arp_interval=5.0)
    assert apply["ok"], apply
    assert "--fd" in apply["announcer_argv"], apply  # type: ignore[operator]
    assert held["count"] == 0  # handed over, not kept
    run("kill", str(apply["announcer_pid"]))


def test_an_early_probe_not_collected_closes_its_socket(pair: Pair, tmp_path: Path) -> None:
    """Dropped once it ended, or while it still probes: either way its socket is closed, nothing leaks (the daemon runs for months)."""
    *_, ended = harness(pair, tmp_path, ["start_early", "wait_early", "forget_early", "packet_sockets"], watch_limit=0.0, dad_timeout=0.3)
    assert ended["count"] == 0
    # Dropped at once, while the probe listens its first 2 s: the probe's thread closes the socket when it ends.
    *_, later = harness(pair, tmp_path, ["start_early", "forget_early", "wait_early", "packet_sockets"], dad_timeout=2.0)
    assert later["count"] == 0


def test_early_probes_started_and_dropped_leave_no_descriptor_behind(pair: Pair, tmp_path: Path) -> None:
    """Each probe has its socket and the eventfd that tells it to end: a second probe started and dropped
    leaves this process with as many descriptors as the first did (the daemon runs for months)."""
    cycle = ["start_early", "forget_early", "wait_early", "descriptors"]
    *_, first = harness(pair, tmp_path, cycle, dad_timeout=0.05)
    *_, again = harness(pair, tmp_path, cycle * 3, dad_timeout=0.05)
    assert again["count"] == first["count"], (first, again)
