"""``twinstar demo --stack light`` end to end: whole process, as root.

Real parts: network namespaces, bridge and veths, the shared address with
gratuitous ARP, a loop-mounted ext4 image, the hook and engine processes, the
responder and the client. Stand-ins, at the narrowest boundary: the USB
simulator (units), fake sysfs trees (the xpp driver) and the drbdadm stand-in
(DRBD's roles), as in design.md.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import REPO
from tests.demo.leftovers import new_demo_parts, snapshot
from tests.demo.unprivileged import as_nobody, base_python, readable_install
from twinstar.demo import events, heartbeat, topology
from twinstar.demo.scenario import Options
from twinstar.demo.topology import NETNS_DIR, Topology
from twinstar.engine.state import StateStore

TWINSTAR = os.path.join(os.path.dirname(sys.executable), "twinstar")


#: The ``tsdemo-<pid>`` prefix of the last :func:`run_demo`: the leftover checks look at that run's parts only.
LAST_RUN: list[str] = []


def run_demo(*args: str, timeout: float = 180) -> tuple[int, dict[str, Any], str]:
    proc = subprocess.Popen(
        [TWINSTAR, "demo", "--json", "--stack", "light", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO
    )
    LAST_RUN[:] = [topology.plan(proc.pid).prefix]
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    try:
        data = json.loads(stdout)
    except ValueError:
        pytest.fail(f"demo printed no JSON (exit {proc.returncode}): {stdout[-2000:]} {stderr[-2000:]}")
    return proc.returncode, data, stderr


@pytest.mark.privileged
@pytest.mark.parametrize("scenario", ["power-loss", "switchover"])
def test_demo_fails_over_from_a_to_b_and_leaves_nothing(scenario: str) -> None:
    before = snapshot()
    rc, data, stderr = run_demo("--scenario", scenario, "--units", "2", "--watchdog-timeout", "300")
    after = snapshot()
    assert new_demo_parts(before, after, LAST_RUN[0]) == []
    (result,) = data["scenarios"]
    assert result["problems"] == [], stderr[-3000:]
    assert rc == 0 and data["ok"] is True and result["ok"] is True
    assert result["served"] == ["pbx-a", "pbx-b"]
    # The watches saw the address and the mount on both servers, never at once.
    events = [(e["host"], e["event"]) for e in result["timeline"]]
    for host in ("pbx-a", "pbx-b"):
        assert (host, "address added") in events
        assert (host, "partition mounted") in events
    assert result["address_on_both"] == []
    assert result["mount_on_both"] == []
    assert result["outage_ms"] > 0
    assert result["orchestration_ms"] > 0
    assert result["takeover_ms"] > 0
    assert set(result["takeover_steps_ms"]) == {"dahdi", "drbd:r0", "ip:10.213.0.100/24", "command:pbx"}
    assert all(v > 0 for v in result["takeover_steps_ms"].values())
    if scenario == "power-loss":
        assert result["detection_ms"] == 300
        # The watchdog counts from the last heartbeat, which may precede the power cut by one interval.
        assert result["detection_measured_ms"] >= 300 - heartbeat.INTERVAL * 1000
    else:
        assert result["switchover"]["exit_status"] == 0
        assert result["release_ms"] > 0
        # pbx-a released everything before pbx-b took anything over.
        ms = {(e["host"], e["event"].strip()): e["ms"] for e in result["timeline"]}
        released = max(v for (h, ev), v in ms.items() if h == "pbx-a" and ev.startswith("release ok"))
        took = min(v for (h, ev), v in ms.items() if h == "pbx-b" and ev == "takeover begins")
        assert released < took


@pytest.mark.privileged
def test_the_address_probe_listens_while_the_units_initialise() -> None:
    """Units READY 2 s after they arrive (``--unit-init``, as real units take seconds) and the documented
    ``dad_timeout`` of 0.5 s: the prepared takeover's probe, started when the unit arrived, has listened its
    0.5 s by the ip step's turn, so the step takes less than that (probing at apply, it would take 0.5 s)."""
    rc, data, stderr = run_demo("--scenario", "power-loss", "--units", "1", "--unit-init", "2000", "--dad-timeout", "0.5")
    (result,) = data["scenarios"]
    assert rc == 0 and result["ok"] is True, (result["problems"], stderr[-3000:])
    ms = {(e["host"], e["event"]): e["ms"] for e in result["timeline"]}
    assert ms["pbx-b", "online XBUS-00 (usb:SIM00001)"] - ms["pbx-b", "add XBUS-00 (usb:SIM00001)"] >= 2000
    assert result["takeover_steps_ms"]["ip:10.213.0.100/24"] < 500, result["takeover_steps_ms"]


def starting_pbx(topo: Topology, name: str) -> bool:
    """The takeover of server ``name`` of this run is starting its PBX (``responder start`` runs; its
    pidfile is in the run's work directory, named by its prefix: another run's responder does not count)."""
    return any(
        "responder.py start" in cmd and f"--name {name} " in cmd and f"/{topo.prefix}/" in cmd
        for _, cmd in snapshot().processes
    )


def logged(events_log: str, host: str, prefix: str) -> bool:
    return any(e["host"] == host and e["event"].startswith(prefix) for e in events.read(events_log))


def journaled(events_log: str, key: str) -> bool:
    """The takeover engine of server ``key`` has begun (its journal has a record)."""
    return bool(StateStore(os.path.join(os.path.dirname(events_log), key, "state")).read_journal())


#: Moments of a power-loss run to press Ctrl-C at, in order: each waits for what was just seen.
INTERRUPTS: dict[str, Callable[[Topology, str], bool]] = {
    "building the network": lambda topo, log: os.path.exists(f"{NETNS_DIR}/{topo.switch}"),
    "hardware up": lambda topo, log: logged(log, "", "hardware up"),
    "a unit online on pbx-a": lambda topo, log: logged(log, "pbx-a", "online XBUS-"),
    "pbx-a takeover begins": lambda topo, log: journaled(log, "a"),
    "pbx-a mounted": lambda topo, log: logged(log, "pbx-a", "partition mounted"),
    "pbx-a starting its PBX": lambda topo, log: starting_pbx(topo, "pbx-a"),
    "power cut": lambda topo, log: logged(log, "pbx-a", "power cut"),
    "units switching": lambda topo, log: logged(log, "pbx-a", "watchdog: switch"),
    "pbx-b hook running": lambda topo, log: logged(log, "pbx-b", "online XBUS-"),
    "pbx-b starting its PBX": lambda topo, log: starting_pbx(topo, "pbx-b"),
}


@pytest.mark.privileged
@pytest.mark.parametrize("moment", list(INTERRUPTS))
def test_ctrl_c_during_the_demo_removes_everything(moment: str) -> None:
    """SIGINT as soon as ``moment`` is seen; afterwards no namespace, mount, loop, process or cgroup is left.

    The PBX starts are the moments where a takeover forks a detached process.
    """
    ready = INTERRUPTS[moment]
    before = snapshot()
    proc = subprocess.Popen(
        [TWINSTAR, "demo", "--stack", "light", "--scenario", "power-loss"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO
    )
    topo = topology.plan(proc.pid)
    events_log = os.path.join(Options().base_dir, topo.prefix, "events.jsonl")
    try:
        deadline = time.monotonic() + 60
        while not ready(topo, events_log):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, f"{moment} never happened"
            time.sleep(0.005)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert "interrupted" in err
    assert new_demo_parts(before, snapshot(), topo.prefix) == [], err


@pytest.mark.privileged
def test_keep_leaves_the_machines_and_names_the_commands_that_remove_them() -> None:
    before = snapshot()
    rc, data, stderr = run_demo("--keep", "--scenario", "power-loss", "--units", "1")
    (result,) = data["scenarios"]
    commands = [shlex.split(c) for c in result["kept"]]
    try:
        assert rc == 0 and result["ok"] is True, stderr[-3000:]
        left = new_demo_parts(before, snapshot(), LAST_RUN[0])
        assert [p for p in left if p.startswith("netns ")] != []
        assert any(p.startswith("mount ") and p.endswith("/b/replica") for p in left)
        assert any(p.startswith("loop ") for p in left)
        assert any(p.startswith("process ") and "responder.py serve" in p for p in left)
    finally:
        for argv in commands:  # as an operator pastes them: one after the other, at once
            subprocess.run(argv, capture_output=True, timeout=30)
        gone = time.monotonic() + 10
        while new_demo_parts(before, snapshot(), LAST_RUN[0]) and time.monotonic() < gone:
            time.sleep(0.05)  # the lazily unmounted partition frees its loop device once the PBX has exited
    assert new_demo_parts(before, snapshot(), LAST_RUN[0]) == []


def test_demo_as_non_root_explains_and_exits_2() -> None:
    """As root, the program runs as nobody from a world-readable copy (the checkout may be closed to others)."""
    if os.geteuid() == 0:
        with readable_install() as env:
            argv = as_nobody([base_python(), "-m", "twinstar", "demo"])
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd="/", env=env)
    else:
        proc = subprocess.run([TWINSTAR, "demo"], capture_output=True, text=True, timeout=60, cwd="/")
    assert proc.returncode == 2, proc.stderr
    assert "needs root" in proc.stderr
    assert "Traceback" not in proc.stderr


def run_without(prepare: str) -> subprocess.CompletedProcess[str]:
    """``twinstar demo`` in a private mount namespace where ``prepare`` (fixed shell text) hid something.

    unshare and the shell exec the demo, so its ``tsdemo-<pid>`` is the child's pid (:data:`LAST_RUN`).
    """
    demo = shlex.join([TWINSTAR, "demo"])
    with subprocess.Popen(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", f"{prepare} && exec {demo}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd="/",
    ) as proc:  # fmt: skip
        LAST_RUN[:] = [topology.plan(proc.pid).prefix]
        try:
            stdout, stderr = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


@pytest.mark.privileged
def test_demo_without_ip_names_the_program_and_its_package() -> None:
    """``ip`` hidden by a bind mount of /dev/null (not executable) in a private mount namespace."""
    ip = shutil.which("ip", path="/usr/sbin:/usr/bin:/sbin:/bin")
    assert ip is not None
    before = snapshot()
    proc = run_without(f"mount --bind /dev/null {shlex.quote(os.path.realpath(ip))}")
    assert proc.returncode == 2, proc.stderr
    assert "needs these programs, which are not installed: ip (Debian package iproute2)" in proc.stderr
    assert "apt-get install iproute2" in proc.stderr
    assert len(proc.stderr.splitlines()) == 1 and "Traceback" not in proc.stderr
    assert new_demo_parts(before, snapshot(), LAST_RUN[0]) == []


@pytest.mark.privileged
def test_demo_without_loop_devices_explains_before_creating_anything() -> None:
    """/dev replaced by a tmpfs holding only /dev/null, in a private mount namespace: no loop device."""
    before = snapshot()
    proc = run_without("mount -t tmpfs tmpfs /dev && mknod -m 666 /dev/null c 1 3")
    assert proc.returncode == 2, proc.stderr
    assert "needs a free loop device" in proc.stderr and "modprobe loop" in proc.stderr
    assert len(proc.stderr.splitlines()) == 1 and "Traceback" not in proc.stderr
    assert new_demo_parts(before, snapshot(), LAST_RUN[0]) == []
