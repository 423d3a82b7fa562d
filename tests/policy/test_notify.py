"""The notify commands: the event as one JSON object on stdin, bounded in time, the process group killed, off the critical path."""

from __future__ import annotations

import json
import os
import select
from pathlib import Path

import pytest

from twinstar.policy import notify

pytestmark = pytest.mark.programs("sh", "sh2", "sleeper")


def _script(path: Path, body: str) -> str:
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return str(path)


def test_each_command_gets_the_event_as_json_on_stdin(tmp_path: Path) -> None:
    out = tmp_path / "out"
    cmd = _script(tmp_path / "sh", f"cat > '{out}'")
    payload = notify.event(notify.ALARM, "pbx-a", "units missing: usb:B (1 of 2 here)")
    assert notify.run_commands([[cmd]], payload, timeout=10, programs={}) == []
    got = json.loads(out.read_text())
    assert got["event"] == "alarm" and got["node"] == "pbx-a" and got["message"].startswith("units missing")
    assert out.read_text().count("\n") == 1  # one object, one line


def test_a_command_over_its_time_is_killed_with_its_process_group(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    # The command and a grandchild of it both outlive the timeout unless the group is killed.
    cmd = _script(tmp_path / "sleeper", f"sleep 300 & echo $! > '{pids}'\necho $$ >> '{pids}'\nwait")
    problems = notify.run_commands([[cmd], [cmd]], notify.event(notify.TRANSITION, "n", "m"), timeout=0.5, programs={})
    assert len(problems) == 2 and all("did not finish within 0.5 s" in p for p in problems), problems
    for pid in (int(p) for p in pids.read_text().split()):
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_a_failing_command_is_reported_and_the_next_still_runs(tmp_path: Path) -> None:
    out = tmp_path / "out"
    bad = _script(tmp_path / "sh", "exit 7")
    good = _script(tmp_path / "sh2", f"cat > '{out}'")
    problems = notify.run_commands([[bad], [good]], notify.event(notify.HAND_BACK, "n", "m"), timeout=10, programs={})
    assert problems == [f"notify {bad}: exit status 7"] and json.loads(out.read_text())["event"] == "hand-back"


def test_dispatch_returns_before_the_command_ends(tmp_path: Path) -> None:
    """The caller does not wait: the command blocks on a FIFO until the test, after dispatch returned, opens it."""
    fifo, out = tmp_path / "fifo", tmp_path / "out"
    os.mkfifo(fifo)
    cmd = _script(tmp_path / "sh", f"cat > '{out}'\necho done > '{fifo}'")
    pid = notify.dispatch([[cmd]], notify.event(notify.RETRY, "n", "m"), timeout=30, programs={})
    assert pid > 0
    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # the writer's open waits for this reader
    try:
        data = b""
        while not data.endswith(b"\n"):
            readable, _, _ = select.select([fd], [], [], 60)
            assert readable, "the detached notify command did not write within 60 s"
            chunk = os.read(fd, 64)
            data += chunk
    finally:
        os.close(fd)
    assert data == b"done\n"
    assert json.loads(out.read_text())["event"] == "retry"


def test_an_unknown_kind_is_a_bug() -> None:
    with pytest.raises(ValueError):
        notify.event("party", "n", "m")


def test_the_configuration_reads_a_list_of_commands(tmp_path: Path) -> None:
    from twinstar.config import parse
    from twinstar.errors import ConfigError

    cfg = parse("policy: {notify: [[/usr/bin/mail, -s, alarm, root], [logger]]}\ntakeover: [service: x]\n", "t.yaml")
    assert cfg.policy.notify == (("/usr/bin/mail", "-s", "alarm", "root"), ("logger",))
    with pytest.raises(ConfigError, match=r"policy.notify\[0\]: expected a command"):
        parse("policy: {notify: [mail]}\ntakeover: [service: x]\n", "t.yaml")
    with pytest.raises(ConfigError, match="policy.notify: expected a list of commands"):
        parse("policy: {notify: mail}\ntakeover: [service: x]\n", "t.yaml")
