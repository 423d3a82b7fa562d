"""``on_ready``: commands run after a takeover that brought a step up, detached, bounded and journaled.

No stand-in: the commands are real programs (``/bin/sh``, ``/bin/sleep``) run
by the real detached runner (``python -m twinstar.engine.ready``) that the
real engine starts; each test waits for that process to exit, not for time
to pass.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.support.node import Node
from twinstar import config
from twinstar.engine import ready
from twinstar.engine.proc import ProgramRunner
from twinstar.engine.records import ReadyLine
from twinstar.engine.runner import Engine, engine_for

pytestmark = pytest.mark.programs("touch", "true", "false", "test")


def _configure(node: Node, actions: list[list[str]], *, timeout: float = 30, fail: bool = False) -> None:
    up = node.root / "up"
    start = "/bin/false" if fail else f"/usr/bin/touch, {up}"
    lines = "".join(f"  - [{', '.join(repr(a) for a in argv)}]\n" for argv in actions)
    node.configure(
        steps=f"  - command: {{name: s, start: [{start}], stop: [/bin/rm, -f, {up}], check: [/usr/bin/test, -e, {up}]}}\n",
        extra=f"on_ready:\n{lines}on_ready_timeout: {timeout}\n",
    )


def _engine(node: Node) -> tuple[Engine, list[subprocess.Popen[bytes] | None]]:
    """The real engine; what its on_ready started is kept so the test can wait for it."""
    engine = engine_for(config.load(str(node.config_path)))
    started: list[subprocess.Popen[bytes] | None] = []
    real = engine.on_ready
    assert real is not None
    engine.on_ready = lambda report, run: started.append(real(report, run))  # type: ignore[func-returns-value]
    return engine, started


def _ready_lines(node: Node) -> list[dict[str, object]]:
    return [line for line in node.journal() if line.get("event") == "ready"]


def test_on_ready_runs_after_a_successful_takeover_and_is_journaled(node: Node) -> None:
    out = node.root / "out"
    _configure(node, [["/bin/sh", "-c", f"echo blink >> {out}"], ["/bin/sh", "-c", f"echo announce >> {out}; exit 4"], ["/bin/sh", "-c", f"echo last >> {out}"]])
    engine, started = _engine(node)
    report = engine.takeover()
    assert report.ok, report.error
    (proc,) = started
    assert proc is not None and proc.wait(timeout=120) == 1  # one command failed
    assert out.read_text().split() == ["blink", "announce", "last"]  # a failure does not stop the next
    run = next(line["run"] for line in node.journal() if line.get("event") == "begin")
    lines = _ready_lines(node)
    assert [(line["result"], line["argv"][2].split()[1]) for line in lines] == [  # type: ignore[index]
        ("started", "blink"), ("ok", "blink"), ("started", "announce"), ("failed", "announce"), ("started", "last"), ("ok", "last"),
    ]
    assert {line["run"] for line in lines} == {run}
    assert "exited with status 4" in str(lines[3]["error"])


def test_on_ready_does_not_run_after_a_failed_takeover_nor_after_one_that_changed_nothing(node: Node) -> None:
    out = node.root / "out"
    _configure(node, [["/bin/sh", "-c", f"echo ran >> {out}"]], fail=True)
    engine, started = _engine(node)
    assert not engine.takeover().ok
    assert started == [] and not out.exists() and _ready_lines(node) == []
    _configure(node, [["/bin/sh", "-c", f"echo ran >> {out}"]])
    (node.root / "up").touch()  # the step is up already: the takeover applies nothing
    engine, started = _engine(node)
    report = engine.takeover()
    assert report.ok and started == [None]
    assert not out.exists() and _ready_lines(node) == []


def test_on_ready_is_off_the_critical_path(node: Node) -> None:
    """The takeover has returned while the command still waits for the test to let it finish."""
    fifo, out = node.root / "go", node.root / "out"
    os.mkfifo(fifo)
    _configure(node, [["/bin/sh", "-c", f"read word < {fifo}; echo $word >> {out}"]])
    engine, started = _engine(node)
    report = engine.takeover()
    assert report.ok, report.error
    (proc,) = started
    assert proc is not None and proc.poll() is None  # still running: it cannot finish before the FIFO is written
    with open(fifo, "w") as f:
        f.write("announced\n")
    assert proc.wait(timeout=120) == 0
    assert out.read_text() == "announced\n"


def test_a_command_past_on_ready_timeout_has_its_process_group_killed(node: Node) -> None:
    pidfile = node.root / "pid"
    _configure(node, [["/bin/sh", "-c", f"/bin/sleep 600 & echo $! > {pidfile}; wait"], ["/bin/true"]], timeout=0.5)
    engine, started = _engine(node)
    assert engine.takeover().ok
    (proc,) = started
    assert proc is not None and proc.wait(timeout=120) == 1
    results = [(line["result"], line["argv"][0]) for line in _ready_lines(node)]
    assert results == [("started", "/bin/sh"), ("timeout", "/bin/sh"), ("started", "/bin/true"), ("ok", "/bin/true")]
    assert "did not finish within 0.5 s; its process group was killed" in str(_ready_lines(node)[1]["error"])
    sleeper = int(pidfile.read_text())
    stat = Path(f"/proc/{sleeper}/stat")
    assert not stat.exists() or stat.read_text().split(") ")[1].startswith("Z")  # gone, or dead and not yet reaped


def test_run_actions_journals_in_order_and_a_journal_failure_does_not_stop_the_commands(tmp_path: Path) -> None:
    from twinstar.errors import StateError

    seen: list[tuple[str, str]] = []

    def journal(line: ReadyLine) -> None:
        seen.append((line["result"], line["argv"][0]))
        raise StateError("cannot write journal.jsonl: No space left on device")

    ended = ready.run_actions([["/bin/true"], ["/bin/false"]], run_id="r1", timeout=30, runner=ProgramRunner(), journal=journal)
    assert [line["result"] for line in ended] == ["ok", "failed"]
    assert seen == [("started", "/bin/true"), ("ok", "/bin/true"), ("started", "/bin/false"), ("failed", "/bin/false")]


@pytest.mark.privileged
def test_as_root_a_command_another_user_could_replace_is_not_run(tmp_path: Path) -> None:
    prog = tmp_path / "announce"
    prog.write_text(f"#!/bin/sh\ntouch {tmp_path / 'ran'}\n")
    prog.chmod(0o755)
    os.chown(prog, 4321, 4321)
    lines: list[ReadyLine] = []
    ended = ready.run_actions([[str(prog)]], run_id="r1", timeout=30, runner=ProgramRunner(), journal=lines.append)
    assert [line["result"] for line in ended] == ["failed"]
    assert f"refusing to run {prog} as root" in ended[0]["error"] and "owned by uid 4321" in ended[0]["error"]
    assert not (tmp_path / "ran").exists()
