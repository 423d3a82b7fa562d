"""The test bed itself: a node boots systemd as PID 1 on an overlay of ``/``, and nothing is left after it.

Real parts only: systemd-nspawn, systemd, ``make install`` inside the node,
``ip netns``, overlay and tmpfs mounts, a loop device.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.support import nspawn
from tests.support.nspawn import Node, boot_nodes

pytestmark = pytest.mark.privileged


def leftovers(prefix: str) -> list[str]:
    """Mounts, namespaces, loop devices and scratch directories whose name starts with ``prefix``."""
    with open("/proc/mounts") as f:
        found = [line.split()[1] for line in f if prefix in line]
    found += [n for n in os.listdir("/run/netns") if n.startswith(prefix)] if os.path.isdir("/run/netns") else []
    found += [line for line in nspawn.sh("losetup", "-a").stdout.splitlines() if prefix in line]
    found += [str(p) for p in (*nspawn.SCRATCH.glob(prefix + "*"), *Path("/run/systemd/nspawn/propagate").glob(prefix + "*"))]
    return found


def test_an_installed_node_runs_systemd_as_pid_1_in_its_own_namespace(sd_node: Node) -> None:
    assert sd_node.run(["cat", "/proc/1/comm"], check=True).stdout.strip() == "systemd"
    assert sd_node.systemctl("is-system-running").stdout.strip() in ("running", "degraded")
    assert sd_node.run(["hostname"], check=True).stdout.strip() == sd_node.name
    inside = os.stat(f"/proc/{sd_node.leader}/ns/net").st_ino
    assert inside == os.stat(f"/run/netns/{sd_node.netns}").st_ino
    assert inside != os.stat("/proc/self/ns/net").st_ino
    # make install ran inside: its manifest, the program and the units, loaded by systemd.
    manifest = json.loads(sd_node.host_path("/usr/local/lib/twinstar/install-manifest.json").read_text())
    assert "/usr/local/sbin/twinstar" in manifest["files"]
    assert not Path("/usr/local/lib/twinstar").exists(), "make install wrote to the host's /"
    for unit in ("twinstar.service", "twinstar-takeover.service", "twinstar-release.service", "twinstar-prepared.service",
                 "twinstar-policy.service"):  # fmt: skip
        assert sd_node.prop(unit, "LoadState") == "loaded", unit
    assert sd_node.run([nspawn.TWINSTAR, "--help"], check=True).stdout.startswith("Usage: twinstar")


def test_two_nodes_share_a_link_and_a_loop_device_and_leave_nothing_behind() -> None:
    with boot_nodes(2, install=False, loop=True) as (a, b):
        prefix = a.name[: -1]
        assert a.loop_device and a.loop_device == b.loop_device
        for node in (a, b):
            assert node.run(["test", "-b", node.loop_device], check=True).returncode == 0
        # A TCP connection to a port nobody listens on is refused by a: the link carries traffic.
        probe = f"import socket; s = socket.create_connection(('{a.address}', 9), timeout=10)"
        assert "ConnectionRefusedError" in b.run(["python3", "-c", probe]).stderr
        assert leftovers(prefix)
    assert leftovers(prefix) == []


def test_a_failure_inside_the_block_still_removes_everything() -> None:
    prefix = ""
    with pytest.raises(RuntimeError, match="inside"), boot_nodes(1, install=False) as (a,):
        prefix = a.name[: -1]
        assert leftovers(prefix)
        raise RuntimeError("a failure inside")
    assert prefix and leftovers(prefix) == []


CHILD = """
import sys, time
sys.path.insert(0, {repo!r})
from tests.support.nspawn import boot_nodes
with boot_nodes(1, install=False) as (node,):
    print(node.name, flush=True)
    time.sleep(600)
"""


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_an_interrupted_or_killed_run_leaves_nothing_behind(signum: int) -> None:
    """Ctrl-C and SIGTERM clean up in the run itself; after SIGKILL, the next run's sweep does."""
    child = subprocess.Popen([sys.executable, "-c", CHILD.format(repo=str(REPO))], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        name = child.stdout.readline().strip()
        assert name.startswith(nspawn.PREFIX), name
        prefix = name[:-1]
        assert leftovers(prefix)
        child.send_signal(signum)
        child.wait(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    if signum == signal.SIGKILL:
        assert leftovers(prefix), "a killed run cannot clean up after itself"
        assert any(r.startswith(name) for r in nspawn.sweep())
    assert leftovers(prefix) == []
