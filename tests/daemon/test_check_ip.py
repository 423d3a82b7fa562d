"""Periodic step checks while active: the shared IP removed behind the daemon's back.

A real ``twinstar daemon`` runs inside a network namespace made by the test
(veth pair to a peer namespace, 10.213.3.0/24 only), over a fake sysfs tree
with one READY unit, so its first evaluation takes over and adds the shared
address with the real ip step. The test then deletes the address with
``ip addr del`` and waits for the daemon's check to notice and act as
configured: ``log`` records it and leaves it down, ``restart`` applies the
step again.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO
from tests.daemon.helpers import arrive, start_process, stop_process, sysfs, write_config
from twinstar import settings as tsettings
from twinstar.engine.state import StateStore

SHARED = "10.213.3.10/24"
STEP = f"ip:{SHARED}"


def ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=True, timeout=30)


@pytest.fixture
def netns() -> Iterator[tuple[str, str, str, str]]:
    tag = uuid.uuid4().hex[:6]
    ns, peer = f"tsd-{tag}-a", f"tsd-{tag}-b"
    iface = f"tsd{tag}a"
    try:
        ip("netns", "add", ns)
        ip("netns", "add", peer)
        ip("-n", ns, "link", "add", iface, "type", "veth", "peer", "name", f"tsd{tag}b", "netns", peer)
        ip("-n", ns, "addr", "add", "10.213.3.1/24", "dev", iface)
        ip("-n", peer, "addr", "add", "10.213.3.2/24", "dev", f"tsd{tag}b")
        for n, i in ((ns, iface), (peer, f"tsd{tag}b"), (ns, "lo"), (peer, "lo")):
            ip("-n", n, "link", "set", i, "up")
        yield ns, iface, peer, f"tsd{tag}b"
    finally:
        for n in (ns, peer):
            subprocess.run(["ip", "netns", "del", n], capture_output=True, timeout=30)


def addresses(ns: str, iface: str) -> list[str]:
    data = json.loads(ip("-n", ns, "-j", "addr", "show", "dev", iface).stdout)
    return [f"{a['local']}/{a['prefixlen']}" for a in data[0]["addr_info"] if a["family"] == "inet"]


def daemon_state(tmp: Path) -> dict[str, Any]:
    try:
        return json.loads((tmp / "state" / tsettings.DAEMON_STATE_FILE).read_text())
    except (FileNotFoundError, ValueError):
        return {}


def wait_for(what: str, predicate: Any, proc: subprocess.Popen[str], limit: float = 60.0) -> None:
    """Poll until ``predicate()``; fails (never sleeps past ``limit``) when the daemon died or it never held."""
    deadline = time.monotonic() + limit
    while not predicate():
        assert proc.poll() is None, f"daemon exited with {proc.returncode} while waiting for {what}"
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)


@pytest.mark.privileged
@pytest.mark.parametrize("mode", ["log", "restart"])
def test_periodic_check_finds_the_shared_ip_removed(tmp_path: Path, netns: tuple[str, str, str, str], mode: str) -> None:
    ns, iface, _, _ = netns
    arrive(sysfs(tmp_path), 0)
    steps = f"  - ip: {{address: {SHARED}, interface: {iface}, arp_count: 1, dad_timeout: 0.2}}\n"
    daemon_cfg = f"daemon: {{check_interval: 0.2, evaluate_interval: 60, on_step_down: {mode}}}\n"
    config = write_config(tmp_path, 1, daemon=daemon_cfg, steps=steps)
    proc = start_process(config, prefix=("ip", "netns", "exec", ns))
    try:
        wait_for("the takeover", lambda: daemon_state(tmp_path).get("role") == "active", proc)
        assert SHARED in addresses(ns, iface)
        wait_for("a check that saw the step up", lambda: daemon_state(tmp_path).get("checks", {}).get(STEP, {}).get("up"), proc)

        ip("-n", ns, "addr", "del", SHARED, "dev", iface)  # behind the daemon's back

        def noticed() -> bool:
            entry = daemon_state(tmp_path).get("checks", {}).get(STEP, {})
            return (entry.get("last_down") or {}).get("action") in ("logged", "restarted", "restart-failed")

        wait_for("the check to notice", noticed, proc)
        entry = daemon_state(tmp_path)["checks"][STEP]
        journal = [r for r in StateStore(str(tmp_path / "state")).read_journal() if r.get("event") == "step-down"]
        assert journal and journal[0]["step"] == STEP
        if mode == "log":
            assert entry["action"] == "logged" and entry["up"] is False
            assert "not on" in entry["detail"]
            assert SHARED not in addresses(ns, iface)  # logged only: left as found
            assert daemon_state(tmp_path)["last_error"]["message"].startswith(f"step {STEP} is down")
        else:
            assert entry["last_down"]["action"] == "restarted", entry
            assert "not on" in entry["last_down"]["detail"]
            assert SHARED in addresses(ns, iface)
            assert journal[0]["action"] == "restarted"
        assert daemon_state(tmp_path)["role"] == "active"
    finally:
        _, err = stop_process(proc)
    assert proc.returncode == 0, err


def announcements(capture: Path) -> int:
    """Gratuitous ARPs for the shared address (sender IP = target IP) in the capture file."""
    want = bytes([10, 213, 3, 10])
    count = 0
    for line in capture.read_text().split():
        frame = bytes.fromhex(line)
        if len(frame) >= 42 and frame[28:32] == want and frame[38:42] == want:
            count += 1
    return count


@pytest.mark.privileged
def test_arp_refresh_reannounces_the_shared_ip(tmp_path: Path, netns: tuple[str, str, str, str]) -> None:
    ns, iface, peer, peer_iface = netns
    capture = tmp_path / "arp"
    capture.touch()
    sniffer = subprocess.Popen(
        ["ip", "netns", "exec", peer, sys.executable, str(REPO / "tests" / "support" / "arp_capture.py"), peer_iface, str(capture)],
        stdout=subprocess.PIPE,
        text=True,
    )
    proc = None
    try:
        assert sniffer.stdout is not None and sniffer.stdout.readline().strip() == "ready"
        arrive(sysfs(tmp_path), 0)
        steps = f"  - ip: {{address: {SHARED}, interface: {iface}, arp_count: 1, dad_timeout: 0.2}}\n"
        daemon_cfg = "daemon: {check_interval: 60, evaluate_interval: 60, arp_refresh_interval: 0.2}\n"
        proc = start_process(write_config(tmp_path, 1, daemon=daemon_cfg, steps=steps), prefix=("ip", "netns", "exec", ns))
        wait_for("the takeover", lambda: daemon_state(tmp_path).get("role") == "active", proc)
        # arp_count 1: the takeover sends one announcement; the rest are refreshes.
        wait_for("three announcements", lambda: announcements(capture) >= 3, proc)
        assert daemon_state(tmp_path)["last_arp_refresh"] is not None
    finally:
        if proc is not None:
            stop_process(proc)
        sniffer.kill()
        sniffer.wait()
