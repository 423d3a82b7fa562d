"""Helpers of the tests under a real systemd: gates that hold a step, unit runs counted in the journal."""

from __future__ import annotations

import json
import os
import select
import time

from tests.support.nspawn import TESTDIR, Node

TAKEOVER = "twinstar-takeover.service"
RELEASE = "twinstar-release.service"
PREPARED = "twinstar-prepared.service"
POLICY = "twinstar-policy.service"
DAEMON = "twinstar.service"


class Gate:
    """A command that tells the test it started, then waits until the test opens it: two FIFOs in the node.

    ``argv`` is the command (for a command step's start or stop); it writes
    a line to ``NAME.started`` and blocks reading ``NAME.go``. With ``once``,
    only its first run is held; later runs return at once.
    """

    def __init__(self, node: Node, name: str, *, once: bool = False) -> None:
        self.node = node
        self.started = f"{TESTDIR}/{name}.started"
        self.go = f"{TESTDIR}/{name}.go"
        for inner in (self.started, self.go):
            path = node.host_path(inner)
            path.unlink(missing_ok=True)
            os.mkfifo(path, 0o600)
        held = f"echo started > {self.started}; read line < {self.go}"
        if once:
            marker = f"{TESTDIR}/{name}.held"
            held = f"if [ ! -e {marker} ]; then : > {marker}; {held}; fi"
        self.argv = ["/bin/sh", "-c", held]

    def wait_started(self, timeout: float = 60) -> None:
        """Block until the command has started (its line arrives on the FIFO)."""
        fd = os.open(self.node.host_path(self.started), os.O_RDONLY | os.O_NONBLOCK)
        try:
            deadline = time.monotonic() + timeout
            while (left := deadline - time.monotonic()) > 0:
                ready, _, _ = select.select([fd], [], [], left)
                if ready and os.read(fd, 64):
                    return
                if ready:  # end of file: no writer yet, or one that went away; wait for the next
                    time.sleep(0.01)
            raise AssertionError(f"{self.started}: the gated command did not start within {timeout:.0f} s")
        finally:
            os.close(fd)

    def open(self) -> None:
        """Let the waiting command go on (it is blocked reading the FIFO)."""
        fd = os.open(self.node.host_path(self.go), os.O_WRONLY | os.O_NONBLOCK)
        try:
            os.write(fd, b"go\n")
        finally:
            os.close(fd)


def command_step(name: str, start: list[str], stop: list[str] | None = None, timeout: float = 120) -> str:
    """A ``takeover:`` item for a command step (flow style, argv items quoted for YAML)."""

    def flow(argv: list[str]) -> str:
        return "[" + ", ".join("'" + a.replace("'", "''") + "'" for a in argv) + "]"

    return f"  - command: {{name: {name}, start: {flow(start)}, stop: {flow(stop or ['/bin/true'])}, timeout: {timeout}}}\n"


def runs(node: Node, unit: str) -> int:
    """How many times systemd started ``unit`` since the node's last reset (its 'Starting' messages)."""
    return sum(1 for e in node.journal_entries("_PID=1", f"UNIT={unit}") if str(e.get("MESSAGE", "")).startswith("Starting "))


def state(node: Node) -> dict[str, object]:
    """The node's state.json (standby when there is none)."""
    text = node.read("/run/twinstar/state.json")
    return json.loads(text) if text else {"role": "standby"}


def begins(node: Node, action: str) -> int:
    """Transitions of ``action`` begun, from twinstar's own journal in the state directory."""
    lines = (node.read("/run/twinstar/journal.jsonl") or "").splitlines()
    return sum(1 for line in lines if (r := json.loads(line)).get("event") == "begin" and r.get("action") == action)
