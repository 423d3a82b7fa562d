"""The ``ip`` step against real network namespaces joined by a veth pair.

Nothing here is a stand-in: the step runs unchanged inside namespace A
(through ``ip netns exec``), the peer namespace B is a real kernel that
answers ARP, and a raw capture in B records what A put on the wire. Only
10.213.1.0/24 is used, inside namespaces this test creates and always deletes.
"""

from __future__ import annotations

import ipaddress
import json
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.cli import run_twinstar
from tests.support.rigs import Pair, alive, run

HERE = Path(__file__).resolve().parent
ADDRESS = "10.213.1.10/24"

pytestmark = pytest.mark.privileged


def harness(ns: str, tmp_path: Path, actions: list[str], *, interface: str = "tsv0", **options: object) -> list[dict]:
    req = {"address": ADDRESS, "interface": interface, "state_dir": str(tmp_path), "options": options, "actions": actions}
    proc = subprocess.run(
        ["ip", "netns", "exec", ns, sys.executable, str(HERE / "ip_harness.py"), json.dumps(req)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=HERE.parent.parent,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture
def capture(pair: Pair, tmp_path: Path, processes: list[int]) -> Iterator[Path]:
    """A raw ARP capture running in the peer namespace; frames land in the returned file."""
    out = tmp_path / "capture.hex"
    out.touch()
    proc = subprocess.Popen(
        ["ip", "netns", "exec", pair.b, sys.executable, str(HERE.parent / "support" / "arp_capture.py"), pair.if_b, str(out)],
        stdout=subprocess.PIPE,
        text=True,
    )
    processes.append(proc.pid)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        yield out
    finally:
        proc.kill()
        proc.wait()


@dataclass(frozen=True)
class Frame:
    """An ARP frame decoded by hand (independently of twinstar.net.arp)."""

    eth_dst: bytes
    eth_src: bytes
    op: int
    sender_mac: bytes
    sender_ip: str
    target_ip: str


def frames(path: Path) -> list[Frame]:
    out = []
    for line in path.read_text().split():
        raw = bytes.fromhex(line)
        dst, src, ethertype = raw[0:6], raw[6:12], struct.unpack("!H", raw[12:14])[0]
        assert ethertype == 0x0806
        htype, ptype, hlen, plen, op = struct.unpack("!HHBBH", raw[14:22])
        assert (htype, ptype, hlen, plen) == (1, 0x0800, 6, 4)
        out.append(
            Frame(
                eth_dst=dst,
                eth_src=src,
                op=op,
                sender_mac=raw[22:28],
                sender_ip=str(ipaddress.IPv4Address(raw[28:32])),
                target_ip=str(ipaddress.IPv4Address(raw[38:42])),
            )
        )
    return out


def wait_for(predicate, what: str, limit: float = 15.0) -> None:
    deadline = time.monotonic() + limit
    while not predicate():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)


def test_apply_probes_adds_announces_and_undo_removes(pair: Pair, capture: Path, tmp_path: Path, processes: list[int]) -> None:
    run("ip", "netns", "exec", pair.b, "sysctl", "-q", f"net.ipv4.conf.{pair.if_b}.arp_accept=1")
    mac_a = pair.mac(pair.a, pair.if_a)

    res = harness(pair.a, tmp_path, ["check", "apply", "verify", "check"], arp_count=3, arp_interval=0.3, dad_timeout=0.3)
    check_before, apply, verify, check_after = res
    assert check_before["ok"] and check_before["up"] is False
    assert apply["ok"], apply
    # The remaining announcements come from a detached process still running when apply returned.
    assert apply["announcer_running"] is True
    processes.append(apply["announcer_pid"])
    assert verify["ok"] and check_after["up"] is True
    assert ADDRESS in pair.addresses(pair.a, pair.if_a)
    # Apply right after check starts from what check read; verify reads the interface again.
    assert [r["reads"] for r in (check_before, apply, verify)] == [1, 0, 1]
    # The sender announces on the step's own socket, handed down to it.
    cmdline = Path(f"/proc/{apply['announcer_pid']}/cmdline").read_bytes().split(b"\0")
    assert b"--fd" in cmdline

    def garps() -> list[Frame]:
        return [f for f in frames(capture) if f.sender_ip == f.target_ip == "10.213.1.10"]

    wait_for(lambda: len(garps()) >= 3, "three gratuitous ARPs in the peer namespace")
    for f in garps():
        assert (f.op, f.eth_dst, f.eth_src, f.sender_mac) == (1, b"\xff" * 6, mac_a, mac_a)
    probes = [f for f in frames(capture) if f.sender_ip == "0.0.0.0"]
    assert probes and all(f.target_ip == "10.213.1.10" and f.sender_mac == mac_a for f in probes)
    # The peer's kernel learned the address from the announcement.
    neigh = json.loads(run("ip", "-n", pair.b, "-j", "neigh", "show", "10.213.1.10", "dev", pair.if_b))
    assert neigh and neigh[0]["lladdr"] == ":".join(f"{b:02x}" for b in mac_a)
    wait_for(lambda: not alive(apply["announcer_pid"]), "the announcer to finish")
    assert len(garps()) == 3

    undo, verify_undone = harness(pair.a, tmp_path, ["undo", "verify_undone"])
    assert undo["ok"] and verify_undone["ok"], (undo, verify_undone)
    assert ADDRESS not in pair.addresses(pair.a, pair.if_a)


def test_apply_is_a_no_op_when_address_present(pair: Pair, tmp_path: Path) -> None:
    run("ip", "-n", pair.a, "addr", "add", ADDRESS, "dev", pair.if_a)
    check, apply = harness(pair.a, tmp_path, ["check", "apply"], arp_count=1)
    assert check["up"] is True and apply["ok"]
    assert pair.addresses(pair.a, pair.if_a).count(ADDRESS) == 1


def test_duplicate_address_detection_refuses_when_peer_owns_address(pair: Pair, tmp_path: Path) -> None:
    run("ip", "-n", pair.b, "addr", "add", ADDRESS, "dev", pair.if_b)
    mac_b = ":".join(f"{b:02x}" for b in pair.mac(pair.b, pair.if_b))

    (apply,) = harness(pair.a, tmp_path, ["apply"], dad_timeout=0.5)
    assert apply["ok"] is False
    assert apply["type"] == "RefusedError" and apply["exit_status"] == 3
    assert mac_b in apply["error"] and "10.213.1.10" in apply["error"]
    assert "announcer_pid" not in apply
    assert ADDRESS not in pair.addresses(pair.a, pair.if_a)


def test_undo_stops_announcements_of_a_released_address(pair: Pair, capture: Path, tmp_path: Path, processes: list[int]) -> None:
    """A release in another process: the detached sender sees the address gone and stops."""
    (apply,) = harness(pair.a, tmp_path, ["apply"], arp_count=1000, arp_interval=0.1, dad_timeout=0.1)
    assert apply["ok"], apply
    pid = apply["announcer_pid"]
    processes.append(pid)
    assert alive(pid)
    (undo,) = harness(pair.a, tmp_path, ["undo"])
    assert undo["ok"], undo
    wait_for(lambda: not alive(pid), "the announcer to stop after the address was removed")


def test_undo_in_same_process_stops_announcer(pair: Pair, tmp_path: Path, processes: list[int]) -> None:
    apply, undo = harness(pair.a, tmp_path, ["apply", "undo"], arp_count=1000, arp_interval=5.0, dad_timeout=0.1)
    assert apply["ok"] and undo["ok"], (apply, undo)
    processes.append(apply["announcer_pid"])
    assert "announcer_running" not in undo  # the step dropped its handle after stopping it
    wait_for(lambda: not alive(apply["announcer_pid"]), "the announcer to be terminated")
    assert ADDRESS not in pair.addresses(pair.a, pair.if_a)


def test_undo_when_absent_does_nothing(pair: Pair, tmp_path: Path) -> None:
    undo, verify_undone = harness(pair.a, tmp_path, ["undo", "verify_undone"])
    assert undo["ok"] and verify_undone["ok"]


def test_missing_interface_is_a_clear_error(pair: Pair, tmp_path: Path) -> None:
    check, apply = harness(pair.a, tmp_path, ["check", "apply"], interface="tsnone0")
    for r in (check, apply):
        assert r["ok"] is False and r["type"] == "StepError" and r["exit_status"] == 1
        assert "interface tsnone0 does not exist" in r["error"]


def test_undo_with_interface_gone_succeeds(pair: Pair, tmp_path: Path) -> None:
    undo, verify_undone = harness(pair.a, tmp_path, ["undo", "verify_undone"], interface="tsnone0")
    assert undo["ok"] and verify_undone["ok"], (undo, verify_undone)


def test_interface_down_fails_without_adding(pair: Pair, tmp_path: Path) -> None:
    run("ip", "-n", pair.a, "link", "set", pair.if_a, "down")
    (apply,) = harness(pair.a, tmp_path, ["apply"])
    assert apply["ok"] is False and "interface tsv0 is down" in apply["error"]
    assert ADDRESS not in pair.addresses(pair.a, pair.if_a)


def test_no_carrier_fails_without_adding(pair: Pair, tmp_path: Path) -> None:
    run("ip", "-n", pair.b, "link", "set", pair.if_b, "down")
    (apply,) = harness(pair.a, tmp_path, ["apply"])
    assert apply["ok"] is False and "has no carrier" in apply["error"]
    assert ADDRESS not in pair.addresses(pair.a, pair.if_a)


def test_same_address_with_other_prefix_is_reported(pair: Pair, tmp_path: Path) -> None:
    run("ip", "-n", pair.a, "addr", "add", "10.213.1.10/28", "dev", pair.if_a)
    check, apply = harness(pair.a, tmp_path, ["check", "apply"])
    assert check["up"] is False and "wrong prefix" in check["detail"]
    assert apply["ok"] is False and "10.213.1.10/28" in apply["error"]


def test_a_takeover_finding_the_address_up_announces_it(pair: Pair, capture: Path, tmp_path: Path) -> None:
    """A takeover killed after ``ip addr add`` but before its gratuitous ARP left the address up,
    unannounced: the next takeover finds it "already" up and announces it all the same."""
    run("ip", "netns", "exec", pair.b, "sysctl", "-q", f"net.ipv4.conf.{pair.if_b}.arp_accept=1")
    run("ip", "-n", pair.a, "addr", "add", ADDRESS, "dev", pair.if_a)
    mac_a = pair.mac(pair.a, pair.if_a)
    config = tmp_path / "twinstar.yaml"
    config.write_text(
        f"node: pbx-a\nstate_dir: {tmp_path / 'state'}\n"
        f"takeover:\n  - ip: {{address: {ADDRESS}, interface: {pair.if_a}, arp_count: 1, dad_timeout: 0.2}}\n"
    )
    config.chmod(0o644)
    result = run_twinstar(config, "takeover", "--json", prefix=["nsenter", f"--net=/run/netns/{pair.a}"])
    assert result.returncode == 0, result.stderr
    assert [o["result"] for o in json.loads(result.stdout)["steps"]] == ["already"]

    def garps() -> list[Frame]:
        return [f for f in frames(capture) if f.sender_ip == f.target_ip == "10.213.1.10"]

    wait_for(lambda: len(garps()) >= 1, "a gratuitous ARP in the peer namespace")
    assert all((f.op, f.eth_dst, f.sender_mac) == (1, b"\xff" * 6, mac_a) for f in garps())
    neigh = json.loads(run("ip", "-n", pair.b, "-j", "neigh", "show", "10.213.1.10", "dev", pair.if_b))
    assert neigh and neigh[0]["lladdr"] == ":".join(f"{b:02x}" for b in mac_a)
    journal = [json.loads(line) for line in (tmp_path / "state" / "journal.jsonl").read_text().splitlines()]
    assert [(r["phase"], r["result"]) for r in journal if "phase" in r] == [("check", "up"), ("refresh", "ok")]
    assert pair.addresses(pair.a, pair.if_a).count(ADDRESS) == 1
