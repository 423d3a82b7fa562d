"""``twinstar takeover`` / ``release`` with the drbd, ip and service steps together.

The whole command runs in network namespace A (``nsenter --net``, so it
keeps the host's mount namespace and the real loop mount stays visible).
Stand-ins, as in the single-step tests: ``drbdadm`` (state file) and
``service`` (init scripts from a temp dir); the mount, the address, the ARP
traffic and the daemon are real.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.cli import run_twinstar
from tests.support.rigs import Pair, Volume, kill_if_alive, mounted_on, run, sysv_service
from twinstar.standins import drbdadm

REPO = Path(__file__).resolve().parents[2]
ADDRESS = "10.213.1.20/24"

pytestmark = pytest.mark.privileged


@dataclass
class Node:
    tmp: Path
    pair: Pair
    volume: Volume
    config: Path
    drbd_state: Path

    def twinstar(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_twinstar(self.config, *args, prefix=["nsenter", f"--net=/run/netns/{self.pair.a}"], timeout=120)

    def daemon_pid(self) -> int | None:
        try:
            return int((self.tmp / "pbxweb.pid").read_text())
        except FileNotFoundError:
            return None

    def role(self) -> str:
        return drbdadm.read_state(self.drbd_state)["resources"]["r0"]["nodes"]["pbx-a"]["role"]

    def address_up(self) -> bool:
        return ADDRESS in self.pair.addresses(self.pair.a, self.pair.if_a)


@pytest.fixture
def node(tmp_path: Path, pair: Pair, volume: Volume, processes: list[int]) -> Iterator[Node]:
    state = tmp_path / "drbd.json"
    drbdadm.write_state(state, drbdadm.new_state("r0", ("pbx-a", "pbx-b"), device=volume.device))
    wrapper = drbdadm.write_wrapper(tmp_path / "drbdadm", state, "pbx-a")
    service = sysv_service(tmp_path)
    (tmp_path / "xpp_order").write_text("")
    config = tmp_path / "twinstar.yaml"
    config.write_text(
        f"""node: pbx-a
state_dir: {tmp_path / "state"}
astribanks: {{sysfs: {tmp_path}, xpp_order: {tmp_path / "xpp_order"}}}
programs: {{drbdadm: {wrapper}, service: {service}}}
takeover:
  - drbd: {{resource: r0, device: {volume.device}, mountpoint: {volume.mountpoint}, kill_grace: 0.5, timeout: 10}}
  - ip: {{address: {ADDRESS}, interface: {pair.if_a}, arp_count: 2, arp_interval: 0.2, dad_timeout: 0.2}}
  - service: {{name: pbxweb, manager: sysv, timeout: 10}}
"""
    )
    config.chmod(0o644)
    n = Node(tmp_path, pair, volume, config, state)
    yield n
    pid = n.daemon_pid()
    if pid is not None:
        kill_if_alive(pid)


def test_takeover_then_release(node: Node) -> None:
    up = node.twinstar("takeover", "--json")
    assert up.returncode == 0, up.stderr
    report = json.loads(up.stdout)
    assert report["exit_status"] == 0
    assert node.role() == "Primary" and mounted_on(node.volume.mountpoint)
    assert node.address_up()
    pid = node.daemon_pid()
    assert pid is not None and Path(f"/proc/{pid}").exists()

    again = node.twinstar("takeover", "--json")
    assert again.returncode == 0, again.stderr
    assert node.daemon_pid() == pid

    down = node.twinstar("release", "--json")
    assert down.returncode == 0, down.stderr
    assert node.role() == "Secondary" and not mounted_on(node.volume.mountpoint)
    assert not node.address_up()
    assert node.daemon_pid() is None


def test_address_owned_by_peer_refuses_and_rolls_back(node: Node) -> None:
    run("ip", "-n", node.pair.b, "addr", "add", ADDRESS, "dev", node.pair.if_b)
    result = node.twinstar("takeover")
    assert result.returncode == 3, result.stderr
    mac_b = ":".join(f"{b:02x}" for b in node.pair.mac(node.pair.b, node.pair.if_b))
    assert mac_b in result.stderr
    # drbd was undone, the service never started.
    assert node.role() == "Secondary" and not mounted_on(node.volume.mountpoint)
    assert not node.address_up() and node.daemon_pid() is None


def test_peer_primary_refuses_before_anything_changes(node: Node) -> None:
    drbdadm.set_role(node.drbd_state, "r0", "pbx-b", "Primary")
    result = node.twinstar("takeover")
    assert result.returncode == 3, result.stderr
    assert "peer is Primary" in result.stderr
    assert not mounted_on(node.volume.mountpoint) and not node.address_up() and node.daemon_pid() is None


READ_ONLY_DRBDADM = {"role", "status", "cstate", "dstate"}


def _snapshot(node: Node) -> dict[str, object]:
    """Everything a takeover or release changes, read from the system itself."""
    drbd = drbdadm.read_state(node.drbd_state)
    state_dir = node.tmp / "state"
    return {
        "drbd": drbd["resources"],
        "mounted": mounted_on(node.volume.mountpoint),
        "addresses": node.pair.addresses(node.pair.a, node.pair.if_a),
        "daemon": node.daemon_pid(),
        "state_dir": sorted((p.name, p.read_bytes()) for p in state_dir.iterdir()) if state_dir.exists() else None,
    }


def _drbdadm_verbs(node: Node, since: int) -> set[str]:
    return {c["argv"][0] for c in drbdadm.read_state(node.drbd_state)["calls"][since:]}


def test_dry_run_changes_nothing_on_the_system(node: Node) -> None:
    """Both dry runs leave DRBD, the mount, the address, the daemon and state_dir as they were."""
    before = _snapshot(node)
    calls = len(drbdadm.read_state(node.drbd_state)["calls"])
    plan = node.twinstar("takeover", "--dry-run", "--json")
    assert plan.returncode == 0, plan.stderr
    report = json.loads(plan.stdout)
    assert [(o["step"], o["result"]) for o in report["steps"]] == [
        ("drbd:r0", "would-apply"),
        (f"ip:{ADDRESS}", "would-apply"),
        ("service:pbxweb", "would-apply"),
    ]
    assert _snapshot(node) == before
    assert before["state_dir"] is None and not before["mounted"] and before["daemon"] is None
    assert _drbdadm_verbs(node, calls) <= READ_ONLY_DRBDADM

    assert node.twinstar("takeover").returncode == 0
    up = _snapshot(node)
    assert up["mounted"] and ADDRESS in up["addresses"] and up["daemon"] is not None  # type: ignore[operator]
    calls = len(drbdadm.read_state(node.drbd_state)["calls"])
    plan = node.twinstar("release", "--dry-run", "--json")
    assert plan.returncode == 0, plan.stderr
    assert [(o["step"], o["result"]) for o in json.loads(plan.stdout)["steps"]] == [
        ("service:pbxweb", "would-undo"),
        (f"ip:{ADDRESS}", "would-undo"),
        ("drbd:r0", "would-undo"),
    ]
    assert _snapshot(node) == up
    assert _drbdadm_verbs(node, calls) <= READ_ONLY_DRBDADM


def test_release_of_a_primary_left_unmounted_lets_the_peer_take_over(node: Node) -> None:
    """A takeover killed between ``drbdadm primary`` and the mount leaves r0 Primary, unmounted:
    release demotes it (not "already"), so the peer's promotion is not refused."""
    drbdadm.set_role(node.drbd_state, "r0", "pbx-a", "Primary")
    down = node.twinstar("release", "--json")
    assert down.returncode == 0, down.stderr
    report = json.loads(down.stdout)
    assert report["role"] == "standby"
    assert [(o["step"], o["result"]) for o in report["steps"]][-1] == ("drbd:r0", "undone")
    assert node.role() == "Secondary"
    peer = drbdadm.run(["primary", "r0"], state_file=str(node.drbd_state), node="pbx-b")
    assert peer[0] == 0, peer
