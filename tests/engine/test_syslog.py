"""Step events reach syslog, through libc's syslog(3), with the identifier ``twinstar``.

libc always writes to ``/dev/log``. The test runs ``twinstar takeover`` in a
private mount namespace whose ``/dev`` is a fresh tmpfs holding the few
device nodes Python needs (bind-mounted from the real ``/dev``) and, on
``/dev/log``, a bind mount of a datagram socket this test listens on. The
host's ``/dev`` and its system logger are never touched. The twinstar side
is the production code unchanged.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.support.cli import REPO, clean_environ
from tests.support.commands import calls, command_steps_config

pytestmark = pytest.mark.privileged

# <PRI>TIMESTAMP twinstar[PID]: MESSAGE ; PRI = facility daemon (3) * 8 + severity
LINE = re.compile(r"^<(\d+)>\w{3} [ \d]\d \d\d:\d\d:\d\d twinstar\[(\d+)\]: (.*)$")
LOG_DAEMON = 3 << 3
LOG_ERR, LOG_INFO = 3, 6

SETUP = """set -e
old=$1; sock=$2; shift 2
mkdir -p "$old"
mount --bind /dev "$old"
mount -t tmpfs -o mode=0755 tmpfs /dev
for n in null zero full random urandom; do touch /dev/$n; mount --bind "$old/$n" /dev/$n; done
touch /dev/log
mount --bind "$sock" /dev/log
exec "$@"
"""


def _takeover_logging_to(sock_path: Path, config: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """``twinstar takeover`` in a private mount namespace whose ``/dev/log`` is ``sock_path``."""
    return subprocess.run(
        [
            "unshare", "--mount", "--propagation", "private", "sh", "-c", SETUP, "sh",
            str(tmp_path / "olddev"), str(sock_path),
            sys.executable, "-m", "twinstar", "--config", str(config), "takeover",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env=clean_environ(),
    )


def test_step_events_reach_syslog_with_identifier_twinstar(tmp_path: Path) -> None:
    config = command_steps_config(tmp_path, 3, behaviour={"start3": ["fail"]})
    sock_path = tmp_path / "log.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    datagrams: list[str] = []
    done = threading.Event()

    def receive() -> None:
        # Read while twinstar runs: syslog(3) blocks when the logger's queue is full.
        # After twinstar has exited, what is still queued is drained before stopping.
        while True:
            try:
                datagrams.append(listener.recv(65536).decode())
            except TimeoutError:
                if done.is_set():
                    return

    try:
        listener.bind(str(sock_path))
        listener.settimeout(0.05)
        reader = threading.Thread(target=receive, daemon=True)
        reader.start()
        try:
            result = _takeover_logging_to(sock_path, config, tmp_path)
        finally:
            done.set()
            reader.join(timeout=10)
    finally:
        listener.close()
    assert result.returncode == 1, result.stderr
    assert calls(tmp_path) == ["start1", "start2", "start3", "stop2", "stop1"]

    parsed = []
    for d in datagrams:
        m = LINE.match(d.rstrip("\n"))
        assert m, f"not a syslog line with identifier twinstar: {d!r}"
        parsed.append((int(m.group(1)), int(m.group(2)), m.group(3)))
    assert len({pid for _, pid, _ in parsed}) == 1, "one process logged"
    assert all(pri & ~7 == LOG_DAEMON for pri, _, _ in parsed)
    messages = [msg for _, _, msg in parsed]

    # Every step event on stderr is also one syslog line, in the same order.
    step_line = re.compile(r"^takeover command:s\d [a-z-]+: ")
    on_stderr = [re.sub(r"^twinstar: (error: )?", "", line) for line in result.stderr.splitlines()]
    events = [m for m in messages if step_line.match(m)]
    assert events == [m for m in on_stderr if step_line.match(m)]
    assert [re.sub(r" \(\d+ ms\).*", "", e) for e in events] == [
        "takeover command:s1 check: down",
        "takeover command:s1 apply: ok",
        "takeover command:s1 verify: ok",
        "takeover command:s2 check: down",
        "takeover command:s2 apply: ok",
        "takeover command:s2 verify: ok",
        "takeover command:s3 check: down",
        "takeover command:s3 apply: failed",
        "takeover command:s3 check: down",  # the failed step: nothing of it came up
        "takeover command:s2 undo: ok",
        "takeover command:s2 verify-undone: ok",
        "takeover command:s1 undo: ok",
        "takeover command:s1 verify-undone: ok",
    ]
    failed = [(pri & 7, msg) for pri, _, msg in parsed if msg.startswith("takeover command:s3 apply: failed")]
    assert len(failed) == 1 and failed[0][0] == LOG_ERR
    assert "start3" in failed[0][1] and "exited with status 1" in failed[0][1]
    assert all(pri & 7 == LOG_INFO for pri, _, msg in parsed if re.search(r": (ok|down) \(\d+ ms\)$", msg))


def test_a_stalled_system_logger_does_not_stall_a_takeover(tmp_path: Path) -> None:
    """The logger's socket is never read: its queue fills after ~10 lines. libc's
    syslog(3) would block there; twinstar drops the excess lines and finishes."""
    config = command_steps_config(tmp_path, 8)
    sock_path = tmp_path / "log.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        listener.bind(str(sock_path))
        result = _takeover_logging_to(sock_path, config, tmp_path)
        listener.setblocking(False)
        received = 0
        while True:
            try:
                listener.recv(65536)
            except BlockingIOError:
                break
            received += 1
    finally:
        listener.close()
    assert result.returncode == 0, result.stderr
    assert calls(tmp_path) == [f"start{i}" for i in range(1, 9)]
    step_lines = [line for line in result.stderr.splitlines() if line.startswith("twinstar: takeover command:")]
    assert len(step_lines) == 24
    assert 0 < received < len(step_lines), "the logger got what its queue could hold, the rest was dropped"
