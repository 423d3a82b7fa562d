"""Concurrent commands on the same unit never interleave their frames.

The simulated Astribank, like usbfs, refuses a second claim of interface 1
with EBUSY and, with ``trace=on``, records every frame with the claim it came
in. Serialisation is twinstar's per-unit lock; without it these commands
would fail with "busy" or interleave.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.usb.conftest import cli_env
from twinstar.usb import sim
from twinstar.usb.transport import BusChoice
from twinstar.usb.units import Astribanks

Runner = Callable[..., Any]


def _claims_are_contiguous(frames: list[dict[str, int]]) -> dict[int, list[int]]:
    """{claim: [seq...]}, asserting that no claim's frames are split by another claim's."""
    by_claim: dict[int, list[int]] = {}
    finished: set[int] = set()
    current = None
    for f in frames:
        if f["claim"] != current:
            if current is not None:
                finished.add(current)
            assert f["claim"] not in finished, f"claim {f['claim']} resumed after another claim: {frames}"
            current = f["claim"]
        by_claim.setdefault(f["claim"], []).append(f["seq"])
    return by_claim


def test_many_processes_toggling_one_unit(sim_file: Path, cli: Runner, read_state) -> None:
    assert cli("sim", "set", str(sim_file), "1", "trace=on").returncode == 0
    env = cli_env(sim=sim_file, port=0)
    commands = ["enable-wd" if i % 2 else "disable-wd" for i in range(12)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "twinstar", c, "--device", "usb:001/002"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )
        for c in commands
    ]
    results = [(p.wait(timeout=60), p.stderr.read() if p.stderr else "") for p in procs]
    for p in procs:
        for stream in (p.stdout, p.stderr):
            if stream:
                stream.close()
    assert [rc for rc, _ in results] == [0] * len(commands), results
    frames = read_state(sim_file)["units"][0]["frames"]
    by_claim = _claims_are_contiguous(frames)
    assert len(by_claim) == len(commands)
    # Each command: STATUS_GET, CAPS_GET, WD_MODE_SET, WD_MODE_GET, numbered 1..4 in its own claim.
    assert all(seqs == [1, 2, 3, 4] for seqs in by_claim.values()), by_claim
    assert [f["op"] for f in frames[:4]] == [0x11, 0x0E, 0x31, 0x32]
    assert read_state(sim_file)["units"][0]["claim"] is None


def test_a_command_waits_for_the_unit_held_by_another(sim_file: Path, cli: Runner, read_state) -> None:
    assert cli("sim", "set", str(sim_file), "1", "trace=on").returncode == 0
    choice = BusChoice(simulator=str(sim_file), port=0, lock_dir=f"{sim_file}.locks/port0")
    hw = Astribanks(choice)
    unit = hw.units(["usb:001/002"])[0]
    env = cli_env(sim=sim_file)
    with hw.session(unit) as session:
        assert session.port() == 0
        proc = subprocess.Popen(
            [sys.executable, "-m", "twinstar", "enable-wd", "-D", "usb:001/002"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )
        time.sleep(1.0)  # give it the chance to (wrongly) claim the unit now
        assert proc.poll() is None
        assert session.watchdog() is False
        held = read_state(sim_file)["units"][0]
        assert held["claim"]["pid"] == os.getpid()
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    frames = read_state(sim_file)["units"][0]["frames"]
    by_claim = _claims_are_contiguous(frames)
    assert list(by_claim.values()) == [[1, 2], [1, 2, 3, 4]]
    assert frames[0]["pid"] == os.getpid() and frames[-1]["pid"] == proc.pid


def test_state_file_survives_concurrent_updates(sim_file: Path) -> None:
    """Read-modify-write of the shared state is locked: no update is lost."""
    script = (
        "import sys\nfrom twinstar.usb import sim\n"
        "for _ in range(20):\n"
        "    with sim.update(sys.argv[1]) as s:\n"
        "        s['next_claim'] += 1\n"
    )
    start = sim.load(str(sim_file))["next_claim"]
    procs = [subprocess.Popen([sys.executable, "-c", script, str(sim_file)]) for _ in range(6)]
    assert [p.wait(timeout=60) for p in procs] == [0] * 6
    assert sim.load(str(sim_file))["next_claim"] == start + 120
