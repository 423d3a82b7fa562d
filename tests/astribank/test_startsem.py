"""dahdi-tools' astribank_is_starting semaphore: a real SysV semaphore, in a private IPC namespace.

Each test runs its part under ``unshare --ipc``: the semaphore the test
creates (with ctypes, as ``astribank_is_starting -a`` does) is invisible to
the host, and the host's is never touched. The fake sysfs stands in for the
xpp driver; the hook process is the real one.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.cli import clean_environ
from tests.support.node import HOOK, REPO, Node

#: Creates the semaphore as astribank_is_starting -a does (IPC_CREAT | 0644), then runs argv[1]'s Python code.
PRELUDE = r"""
import ctypes, json, subprocess, sys
libc = ctypes.CDLL(None, use_errno=True)
KEY = 0xAB11A0
def present():
    return libc.semget(ctypes.c_int(KEY), 0, 0) >= 0
assert not present(), "the private IPC namespace starts empty"
assert libc.semget(ctypes.c_int(KEY), 1, 0o1000 | 0o644) >= 0
assert present()
"""


def in_ipc_namespace(code: str, *args: str) -> object:
    proc = subprocess.run(
        ["unshare", "--ipc", sys.executable, "-c", PRELUDE + code, *args],
        capture_output=True, text=True, timeout=120, cwd=REPO, env=clean_environ(),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


@pytest.mark.privileged
def test_remove_takes_the_semaphore_away_once() -> None:
    code = (
        "from twinstar.astribank import startsem\n"
        "first = startsem.remove(); second = startsem.remove()\n"
        "print(json.dumps([first, present(), second]))\n"
    )
    assert in_ipc_namespace(code) == [True, False, False]


@pytest.mark.privileged
def test_the_hook_removes_it_when_every_listed_unit_is_ready(node: Node) -> None:
    """Like dahdi-tools' hook: not while units are missing; at the event that makes them all READY."""
    node.configure()
    node.listed(2)
    node.arrive(0)
    node.arrive(1)
    node.sysfs.set_state(1, "RECVD_DESC")
    events = [node.environ(node.sysfs.event("online", i)) for i in (0, 1)]
    code = (
        "from twinstar.standins.fakesysfs import FakeSysfs\n"
        "hook, events, root = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]\n"
        "out = []\n"
        "for i, env in enumerate(events):\n"
        "    if i == 1:\n"
        "        FakeSysfs(root).set_state(1, 'READY')\n"
        "    p = subprocess.run([sys.executable, hook], env=env, capture_output=True, text=True, cwd=root)\n"
        "    out.append([p.returncode, present(), p.stderr.strip().splitlines()[-1]])\n"
        "print(json.dumps(out))\n"
    )
    first, second = in_ipc_namespace(code, str(HOOK), json.dumps(events), str(node.sysfs.root))  # type: ignore[misc]
    assert first[:2] == [0, True], first
    assert "1/2 ready" in first[2]
    assert second[:2] == [0, False], second
    assert "2/2 ready" in second[2] and "removed the astribank_is_starting semaphore" in second[2]
    assert node.role() == "active"


def test_no_semaphore_is_not_an_error(tmp_path: Path) -> None:
    """Without root, in this process: a key nobody created (the host has none; waitfor_xpds never ran here)."""
    from twinstar.astribank import startsem

    probe = subprocess.run(["ipcs", "-s"], capture_output=True, text=True, timeout=30)
    if "0x00ab11a0" in probe.stdout:
        pytest.skip("this host has an astribank_is_starting semaphore")
    assert startsem.remove() is False
