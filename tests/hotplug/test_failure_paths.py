"""Failure paths of the hotplug decision: a refused takeover, a reused pid, a clock step, a broken state.json.

Stand-ins: the fake sysfs tree (no xpp driver here) and, for the refusal,
``drbdadm`` (twinstar.standins.drbdadm: the DRBD kernel module cannot load)
with the peer Primary. The hook, hand-off, engine, command steps and the
processes whose identity is checked are real.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import time
from collections.abc import Iterator

import pytest

from tests.support.node import PYTHON, Node
from twinstar import config
from twinstar.engine.runner import engine_for
from twinstar.engine.state import StateStore
from twinstar.errors import ExitStatus, StateFileError
from twinstar.fastpath import procid, statefile
from twinstar.standins import drbdadm

# The programs twinstar runs in this process (tests/conftest.py fails any other).
pytestmark = pytest.mark.programs("drbdadm", "false", "python", "start", "stop", "true")


def _wait(what: str, condition) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + 60
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.01)


def _block_device() -> str:
    for name in ("loop0", "loop1", "sda", "vda", "nvme0n1", "ram0"):
        path = f"/dev/{name}"
        if os.path.exists(path) and stat.S_ISBLK(os.stat(path).st_mode):
            return path
    pytest.skip("no block device node in /dev for the drbd step's device check")


def _refusing_node(node: Node, handoff: str, *, retries: int = 3) -> None:
    """Steps: a call-recording command, then DRBD whose peer is Primary (refused, exit 3).

    ``retries``: the policy's (0: each burst's one attempt is the subject; tests/policy retry with backoff).
    """
    state = node.root / "drbd.json"
    drbdadm.write_state(state, drbdadm.new_state("r0", ("test", "peer"), primary="peer"))
    wrapper = drbdadm.write_wrapper(node.root / "drbdadm", state, "test")
    start, stop = node.write_stub("start", "exit 0"), node.write_stub("stop", "exit 0")
    (node.root / "mnt").mkdir()
    steps = (
        f"  - command: {{name: first, start: [{start}], stop: [{stop}]}}\n"
        f"  - drbd: {{resource: r0, device: {_block_device()}, mountpoint: {node.root / 'mnt'}}}\n"
    )
    node.configure(handoff=handoff, steps=steps, extra=f"programs: {{drbdadm: {wrapper}}}\npolicy: {{retries: {retries}}}\n")
    node.listed(1)


def _starts(node: Node) -> int:
    return sum(1 for line in node.recorded() if line.startswith("start"))


# --- item: a refused takeover is tried once per burst of events -------------------------------


def test_a_refused_takeover_is_not_retried_by_the_look_after_it(node: Node) -> None:
    _refusing_node(node, "inline")
    event = node.arrive(0)[-1]
    outcome = node.evaluate(event)
    assert outcome.report is not None and outcome.report.verdict == "refused"
    assert node.begins("takeover") == 1 and _starts(node) == 1, node.journal()
    assert node.role() == "standby"
    periodic = node.evaluate(None)
    assert periodic.decision.action == "nothing" and "last transition was refused" in periodic.decision.reason
    assert node.begins("takeover") == 1
    node.evaluate(node.sysfs.event("online", 0))  # a new device event tries again, once
    assert node.begins("takeover") == 2 and _starts(node) == 2


@pytest.fixture
def quiet(node: Node) -> Iterator[Node]:
    """Whatever the hand-offs started stops: the maintenance file holds every decision, then their processes end."""
    yield node
    node.maintenance.write_text("")
    record = node.state_dir / "handoff.json"
    if record.exists():
        _wait("the hand-off to end", lambda: not _record_alive(node))


def _record_alive(node: Node) -> bool:
    try:
        record = json.loads((node.state_dir / "handoff.json").read_text())
    except (OSError, ValueError):
        return True  # being replaced
    return procid.process_alive(record.get("pid"), record.get("start"), record.get("boot_id"))


def test_a_refused_spawned_takeover_runs_once_per_event_burst(quiet: Node) -> None:
    """The detached takeover's follow-up used to hand the refused takeover off again, forever."""
    node = quiet
    _refusing_node(node, "spawn", retries=0)
    events = node.arrive(0)
    for event in events:  # the whole burst, as udev delivers it
        assert node.run_hook(event).returncode == 0
    _wait(
        "the hand-off to end, or a second attempt",
        lambda: node.begins("takeover") >= 2 or (node.begins("takeover") == 1 and node.role() == "standby" and not _record_alive(node)),
    )
    assert node.begins("takeover") == 1 and _starts(node) == 1
    ends = [r for r in node.journal() if r.get("event") == "end"]
    assert [r["result"] for r in ends] == ["refused"]


# --- item: a reused pid does not keep a transition "in progress" -------------------------------


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(["sleep", "120"])
    yield proc
    proc.kill()
    proc.wait()


def _write_state(node: Node, **fields: object) -> None:
    node.state_dir.mkdir(mode=0o700, exist_ok=True)
    (node.state_dir / "state.json").write_text(json.dumps({"role": "starting", "since": 1.0, **fields}))


@pytest.mark.parametrize(
    ("identity", "interrupted"),
    [
        ({}, False),  # that very process: in progress
        ({"pid_start": 1}, True),  # its pid, another process's start time: reused
        ({"boot_id": "another-boot"}, True),  # recorded in an earlier boot
    ],
)
def test_a_transition_is_in_progress_only_while_its_very_process_lives(
    node: Node, sleeper: subprocess.Popen[bytes], identity: dict[str, object], interrupted: bool
) -> None:
    pid, start, boot = procid.identity(sleeper.pid)
    _write_state(node, **{"pid": pid, "pid_start": start, "boot_id": boot, **identity})
    assert statefile.read_node(str(node.state_dir)).interrupted is interrupted
    assert StateStore(str(node.state_dir)).read().interrupted() is interrupted


def test_a_live_unrelated_process_with_the_recorded_pid_does_not_block_takeover(node: Node, sleeper: subprocess.Popen[bytes]) -> None:
    node.configure()
    node.listed(1)
    _write_state(node, pid=sleeper.pid, pid_start=procid.process_start(sleeper.pid) + 1, boot_id=procid.boot_id())  # type: ignore[operator]
    proc = node.run_hook(node.arrive(0)[-1])
    assert "completing an interrupted transition (starting)" in proc.stderr, proc.stderr
    assert node.role() == "active" and node.begins("takeover") == 1


def test_the_engine_records_its_identity_while_running(node: Node) -> None:
    seen = node.root / "seen.json"
    copy = f"import shutil; shutil.copy({str(node.state_dir / 'state.json')!r}, {str(seen)!r})"
    node.configure(steps=f"  - command: {{name: look, start: [{PYTHON}, -c, {json.dumps(copy)}], stop: [/bin/true]}}\n")
    report = engine_for(config.load(str(node.config_path))).takeover()
    assert report.ok, report.error
    during = json.loads(seen.read_text())
    assert during["role"] == "starting" and (during["pid"], during["pid_start"], during["boot_id"]) == procid.identity(os.getpid())
    after = json.loads((node.state_dir / "state.json").read_text())
    assert after["pid"] is None and after["boot_id"] == procid.boot_id() and 0 < after["since_boot"] <= procid.boottime()


# --- item: a clock stepped back does not make new events be ignored ----------------------------


def test_after_the_clock_is_stepped_back_a_new_event_still_retries_a_failed_takeover(node: Node) -> None:
    """The failure is recorded with the wall clock an hour ahead: as if the clock was then stepped back."""
    node.configure(steps="  - command: {name: broken, start: [/bin/false], stop: [/bin/true]}\n")
    node.listed(1)
    event = node.arrive(0)[-1]
    engine = engine_for(config.load(str(node.config_path)))
    engine.clock = lambda: time.time() + 3600
    assert engine.takeover().verdict == "failed" and node.role() == "failed"
    retried = node.evaluate(event)
    assert retried.decision.action == "takeover", retried.decision.reason
    assert node.begins("takeover") == 2


def test_an_event_of_the_failed_burst_does_not_retry_even_with_the_clock_ahead(node: Node) -> None:
    """Seen before the failure was recorded (boot clock): part of the burst, whatever the wall clock says."""
    node.configure(steps="  - command: {name: broken, start: [/bin/false], stop: [/bin/true]}\n")
    node.listed(1)
    event = node.arrive(0)[-1]
    seen = procid.boottime()
    engine = engine_for(config.load(str(node.config_path)))
    engine.clock = lambda: time.time() - 3600  # the wall clock says the failure is old
    assert engine.takeover().verdict == "failed"
    late = node.evaluate(event, event_time=seen)
    assert late.decision.action == "nothing" and "last transition failed" in late.decision.reason
    assert node.begins("takeover") == 1


# --- item: a malformed state.json is a one-line state error, bad input (exit 2) -----------------

MALFORMED = {
    "open brace": b"{",
    "not json": b"{not json",
    "open string": b'"abc',
    "empty": b"",
    "a list": b"[]",
    "huge integer": b"1" + b"0" * 5000,
    "nan": b'{"role": "standby", "since": NaN}',
    "infinite": b'{"role": "standby", "since": 1e999}',
    "huge since": b'{"role": "standby", "since": 1' + b"0" * 400 + b"}",
    "unknown role": b'{"role": "boss"}',
    "negative pid": b'{"role": "starting", "pid": -1}',
    "not utf-8": b'{"node": "\xff"}',
    "deeply nested": b"[" * 100000,
}


@pytest.mark.parametrize("content", list(MALFORMED.values()), ids=list(MALFORMED))
def test_a_malformed_state_file_is_a_one_line_state_error(node: Node, content: bytes) -> None:
    node.configure()
    node.listed(1)
    node.state_dir.mkdir(mode=0o700)
    path = node.state_dir / "state.json"
    path.write_bytes(content)
    proc = node.run_hook(node.arrive(0)[-1])
    assert proc.returncode == StateFileError.exit_status == ExitStatus.BAD_INPUT, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and "internal error" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert str(path) in lines[0] and "remove it" in lines[0], lines[0]
    assert path.read_bytes() == content and sorted(p.name for p in node.state_dir.iterdir()) == ["state.json"]
    with pytest.raises(StateFileError) as engine_error:  # the engine reads it with the same reader
        StateStore(str(node.state_dir)).read()
    assert str(engine_error.value).split(" (")[0] in lines[0]


@pytest.mark.parametrize("kind", ["directory", "fifo"])
def test_a_state_file_that_is_not_a_regular_file_is_refused_at_once(node: Node, kind: str) -> None:
    node.configure()
    node.listed(1)
    node.state_dir.mkdir(mode=0o700)
    path = node.state_dir / "state.json"
    path.mkdir() if kind == "directory" else os.mkfifo(path)
    proc = node.run_hook(node.arrive(0)[-1])
    assert proc.returncode == ExitStatus.BAD_INPUT and f"{path} is not a regular file" in proc.stderr, proc.stderr
    assert "internal error" not in proc.stderr
