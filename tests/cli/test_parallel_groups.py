"""``twinstar takeover`` / ``release`` with a ``parallel`` group of real command steps.

Each member's start is a small script; the group's two members meet through
two FIFOs (opening a FIFO blocks until the other end is opened), so they
can only both start when they run concurrently: one after the other, the
first would block until its step timeout and the takeover would fail. The
marker files say which steps are up. Nothing is a stand-in.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.support.cli import run_twinstar
from tests.support.config import write_config

#: A member's start, waiting for the other member: generous, only reached when the members do not run concurrently.
STEP_TIMEOUT = 30


def _script(path: Path, body: str) -> str:
    path.write_text("#!/bin/sh\nset -e\n" + body)
    path.chmod(0o755)
    return str(path)


def _command(name: str, start: list[str], marker: Path) -> str:
    stop = ["/bin/rm", "-f", str(marker)]
    check = ["/usr/bin/test", "-e", str(marker)]
    return (
        f"      - command:\n          name: {name}\n          start: {json.dumps(start)}\n"
        f"          stop: {json.dumps(stop)}\n          check: {json.dumps(check)}\n          timeout: {STEP_TIMEOUT}\n"
    )


def _config(tmp: Path, *, b_fails: bool) -> Path:
    """s1, then the group [a, b] meeting through the FIFOs, then s2; with ``b_fails`` b exits 1 once both have met."""
    there, back = tmp / "a-to-b", tmp / "b-to-a"
    os.mkfifo(there)
    os.mkfifo(back)
    a = _script(tmp / "start-a", f'echo a > "{there}"\nread x < "{back}"\ntouch "{tmp / "up-a"}"\n')
    b = _script(tmp / "start-b", f'read x < "{there}"\necho b > "{back}"\n' + ("exit 1\n" if b_fails else f'touch "{tmp / "up-b"}"\n'))
    plain = "".join(
        f"  - command: {{name: {n}, start: [/usr/bin/touch, {tmp / f'up-{n}'}], stop: [/bin/rm, -f, {tmp / f'up-{n}'}], "
        f"check: [/usr/bin/test, -e, {tmp / f'up-{n}'}]}}\n"
        for n in ("s1", "s2")
    )
    first, last = plain.splitlines(keepends=True)
    group = "  - parallel:\n" + _command("a", [a], tmp / "up-a") + _command("b", [b], tmp / "up-b")
    return write_config(tmp / "twinstar.yaml", state_dir=tmp / "state", sysfs=tmp, xpp_order=tmp / "xpp_order", steps=first + group + last)


def _up(tmp: Path) -> list[str]:
    return sorted(p.name.removeprefix("up-") for p in tmp.glob("up-*"))


def _steps(outcomes: list[dict[str, object]]) -> list[tuple[object, ...]]:
    return [(o["step"], o["result"], o.get("group")) for o in outcomes]


GROUP = "command:a+command:b"


def test_a_group_comes_up_concurrently_and_a_release_takes_everything_down(tmp_path: Path) -> None:
    config = _config(tmp_path, b_fails=False)
    takeover = run_twinstar(config, "takeover", "--json", timeout=120)
    assert takeover.returncode == 0, takeover.stderr
    report = json.loads(takeover.stdout)
    assert _steps(report["steps"]) == [
        ("command:s1", "done", None), ("command:a", "done", GROUP), ("command:b", "done", GROUP), ("command:s2", "done", None),
    ]
    assert _up(tmp_path) == ["a", "b", "s1", "s2"]
    text = run_twinstar(config, "takeover", "--dry-run")
    assert text.returncode == 0, text.stderr
    assert "| command:a" in text.stdout and "| command:b" in text.stdout
    check = run_twinstar(config, "check")
    assert f"parallel {GROUP}" in check.stdout
    release = run_twinstar(config, "release", "--json")
    assert release.returncode == 0, release.stderr
    assert [o["step"] for o in json.loads(release.stdout)["steps"]] == ["command:s2", "command:b", "command:a", "command:s1"]
    assert _up(tmp_path) == []


def test_a_failed_member_rolls_back_the_member_that_came_up_and_the_step_before(tmp_path: Path) -> None:
    config = _config(tmp_path, b_fails=True)
    takeover = run_twinstar(config, "takeover", "--json", timeout=120)
    assert takeover.returncode == 1, takeover.stderr
    report = json.loads(takeover.stdout)
    assert _steps(report["steps"]) == [("command:s1", "done", None), ("command:a", "done", GROUP), ("command:b", "failed", GROUP)]
    assert [(o["step"], o["result"]) for o in report["rollback"]] == [("command:a", "undone"), ("command:s1", "undone")]
    assert _up(tmp_path) == []
    journal = [json.loads(line) for line in (tmp_path / "state" / "journal.jsonl").read_text().splitlines()]
    assert [e["result"] for e in journal if e.get("event") == "group"] == ["started", "failed: command:b"]
