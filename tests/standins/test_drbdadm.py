"""The drbdadm stand-in shared by two simulated servers: one Primary at most, drbd-utils output."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from twinstar.standins import drbdadm


@pytest.fixture
def nodes(tmp_path: Path) -> tuple[Path, Path, Path]:
    state = tmp_path / "drbd.json"
    drbdadm.write_state(state, drbdadm.new_state("r0", ("pbx-a", "pbx-b")))
    a = drbdadm.write_wrapper(tmp_path / "drbdadm-a", state, "pbx-a")
    b = drbdadm.write_wrapper(tmp_path / "drbdadm-b", state, "pbx-b")
    return state, a, b


def run(wrapper: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # An empty environment, like the program runner's: the wrapper carries what it needs.
    return subprocess.run([str(wrapper), *args], capture_output=True, text=True, env={}, timeout=30)


def test_single_primary_between_two_servers(nodes: tuple[Path, Path, Path]) -> None:
    state, a, b = nodes
    assert run(a, "primary", "r0").returncode == 0
    refused = run(b, "primary", "r0")
    assert refused.returncode == 17 and "Multiple primaries not allowed" in refused.stderr
    assert run(a, "role", "r0").stdout == "Primary/Secondary\n"
    assert run(b, "role", "r0").stdout == "Secondary/Primary\n"
    assert run(a, "secondary", "r0").returncode == 0
    assert run(b, "primary", "r0").returncode == 0
    assert run(a, "role", "r0").stdout == "Secondary/Primary\n"
    assert [c["node"] for c in drbdadm.read_state(state)["calls"]].count("pbx-b") == 3


def test_disconnected_peer_is_unknown_and_fencing_refuses(nodes: tuple[Path, Path, Path]) -> None:
    state, a, b = nodes
    drbdadm.set_role(state, "r0", "pbx-b", "Primary")
    drbdadm.set_connected(state, "r0", False)
    assert run(a, "role", "r0").stdout == "Secondary/Unknown\n"
    assert run(a, "cstate", "r0").stdout == "WFConnection\n"
    assert run(a, "dstate", "r0").stdout == "UpToDate/DUnknown\n"
    refused = run(a, "primary", "r0")
    assert refused.returncode == 17 and "Refusing to be Primary while peer is not outdated" in refused.stderr


def test_drbd9_output(tmp_path: Path) -> None:
    state = tmp_path / "drbd.json"
    drbdadm.write_state(state, drbdadm.new_state("r0", ("pbx-a", "pbx-b"), primary="pbx-b", format="9"))
    a = drbdadm.write_wrapper(tmp_path / "drbdadm", state, "pbx-a")
    assert run(a, "role", "r0").stdout == "Secondary\n"
    assert run(a, "status", "r0").stdout == (
        "r0 role:Secondary\n  disk:UpToDate\n  pbx-b role:Primary\n    peer-disk:UpToDate\n"
    )


def test_failures_are_counted_down_and_recorded(nodes: tuple[Path, Path, Path]) -> None:
    state, a, _ = nodes
    with drbdadm.locked(state) as s:
        s["resources"]["r0"]["fail_primary"] = 1
    first = run(a, "primary", "r0")
    assert first.returncode == 11 and "Need access to UpToDate data" in first.stderr
    assert run(a, "primary", "r0").returncode == 0
    assert [c["argv"] for c in drbdadm.read_state(state)["calls"]] == [["primary", "r0"], ["primary", "r0"]]


@pytest.mark.parametrize("args, status", [(["role", "r9"], 10), (["frobnicate", "r0"], 20), (["role"], 20)])
def test_bad_commands(nodes: tuple[Path, Path, Path], args: list[str], status: int) -> None:
    _, a, _ = nodes
    assert run(a, *args).returncode == status


def test_env_selects_node_and_state(nodes: tuple[Path, Path, Path]) -> None:
    state, _, _ = nodes
    r = subprocess.run(
        [sys.executable, "-m", "twinstar.standins.drbdadm", "role", "r0"],
        capture_output=True,
        text=True,
        env={drbdadm.STATE_ENV: str(state), drbdadm.NODE_ENV: "pbx-b"},
        cwd=Path(drbdadm.__file__).resolve().parents[2],
        timeout=30,
    )
    assert r.returncode == 0 and r.stdout == "Secondary/Secondary\n"


@pytest.mark.programs("cc")
def test_resident_server_and_c_client_answer_as_the_python_stand_in(tmp_path: Path) -> None:
    """The light demo's drbdadm: a C client passing each call to one resident server (same state, same answers,
    every call recorded), and the Python wrapper when the server does not answer."""
    import shutil
    import threading

    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler: the demo uses the Python wrapper")
    state = tmp_path / "drbd.json"
    drbdadm.write_state(state, drbdadm.new_state("r0", ("pbx-a", "pbx-b")))
    sock = str(tmp_path / "drbdadm.sock")
    clients = {}
    for node in ("pbx-a", "pbx-b"):
        fallback = drbdadm.write_wrapper(tmp_path / f"{node}.py", state, node)
        assert drbdadm.build_client(tmp_path / node, sock, node, fallback)
        clients[node] = tmp_path / node
    a, b = clients["pbx-a"], clients["pbx-b"]
    assert run(a, "role", "r0").stdout == "Secondary/Secondary\n"  # no server yet: the wrapper answers
    ready = threading.Event()
    threading.Thread(target=drbdadm.serve, args=(sock, str(state)), kwargs={"ready": ready.set}, daemon=True).start()
    assert ready.wait(30)
    assert (Path(sock).stat().st_mode & 0o777) == 0o600
    assert run(a, "primary", "r0").returncode == 0
    refused = run(b, "primary", "r0")
    assert refused.returncode == 17 and "Multiple primaries not allowed" in refused.stderr and refused.stdout == ""
    assert run(b, "role", "r0").stdout == "Secondary/Primary\n"
    assert run(a, "status", "r0").stdout == "r0 role:Primary\n  disk:UpToDate\n  pbx-b role:Secondary\n    peer-disk:UpToDate\n"
    unknown = run(a, "frobnicate", "r0")
    assert unknown.returncode == drbdadm.EXIT_USAGE and "Unknown command" in unknown.stderr
    good = state.read_bytes()
    state.write_text("{not json")  # a call that fails in the server (the wrapper would die with status 1)
    broken = run(a, "role", "r0")
    assert broken.returncode == 1 and "drbdadm stand-in:" in broken.stderr
    state.write_bytes(good)
    assert run(b, "role", "r0").stdout == "Secondary/Primary\n"  # the server went on
    calls = drbdadm.read_state(state)["calls"][:6]
    assert [(c["node"], c["argv"]) for c in calls] == [
        ("pbx-a", ["role", "r0"]),
        ("pbx-a", ["primary", "r0"]),
        ("pbx-b", ["primary", "r0"]),
        ("pbx-b", ["role", "r0"]),
        ("pbx-a", ["status", "r0"]),
        ("pbx-a", ["frobnicate", "r0"]),
    ]


def test_a_malformed_request_is_a_usage_error(tmp_path: Path) -> None:
    state = tmp_path / "drbd.json"
    drbdadm.write_state(state, drbdadm.new_state("r0", ("pbx-a", "pbx-b")))
    reply = drbdadm.answer(b"", str(state))
    assert reply[0] == drbdadm.EXIT_USAGE and reply[1:5] == b"\0\0\0\0" and b"malformed" in reply[5:]
    reply = drbdadm.answer(b"pbx-b\0role\0r0\0", str(state))
    assert reply == bytes([0]) + (20).to_bytes(4, "big") + b"Secondary/Secondary\n"


@pytest.mark.privileged
@pytest.mark.programs("cc", "unshare", "nsenter")
def test_the_resident_server_answers_about_mounts_as_its_client_sees_them(tmp_path: Path) -> None:
    """``secondary`` refuses while the device is mounted where the client runs: a client in a mount
    namespace of its own (as in the real stack's containers) is refused, one in the server's namespace,
    where nothing is mounted, is not. Real loop device, ext4, mount namespace; the DRBD roles are the stand-in's."""
    import os
    import threading
    import time

    from tests.conftest import require_root
    from tests.support.rigs import kill_if_alive, loop_volume

    require_root("a loop device and a mount namespace")
    with loop_volume(tmp_path) as vol:
        state = tmp_path / "drbd.json"
        sock = str(tmp_path / "drbdadm.sock")
        drbdadm.write_state(state, drbdadm.new_state("r0", ("pbx-a", "pbx-b"), device=vol.device))
        fallback = drbdadm.write_wrapper(tmp_path / "a.py", state, "pbx-a")
        assert drbdadm.build_client(tmp_path / "pbx-a", sock, "pbx-a", fallback)
        ready = threading.Event()
        threading.Thread(target=drbdadm.serve, args=(sock, str(state)), kwargs={"ready": ready.set}, daemon=True).start()
        assert ready.wait(30)
        holder = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "--", "sleep", "120"])
        try:
            enter = ["nsenter", "-t", str(holder.pid), "-m", "--"]
            for _ in range(100):  # until unshare has made the namespace and run sleep
                if os.readlink(f"/proc/{holder.pid}/ns/mnt") != os.readlink("/proc/self/ns/mnt"):
                    break
                time.sleep(0.05)
            subprocess.run([*enter, "mount", vol.device, str(vol.mountpoint)], check=True, timeout=30)
            assert run(tmp_path / "pbx-a", "primary", "r0").returncode == 0
            inside = subprocess.run([*enter, str(tmp_path / "pbx-a"), "secondary", "r0"], capture_output=True, text=True, timeout=30)
            assert inside.returncode == drbdadm.EXIT_STATE_CHANGE_FAILED and "held open" in inside.stderr
            outside = run(tmp_path / "pbx-a", "secondary", "r0")
            assert outside.returncode == 0, outside.stderr
        finally:
            kill_if_alive(holder.pid)
            holder.wait(30)
