"""Logging channels: stderr and syslog, or, when stderr is a service's journal stream, that stream once with priorities.

Whole child processes whose stderr is a file; ``$JOURNAL_STREAM`` names that
file's device and inode (as systemd names the journal stream) or another
file's. Under a real systemd and journald: tests/systemd/test_journal.py.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.cli import REPO, clean_environ

CHILD = """
import logging, sys
from twinstar.fastpath import syslogsend
syslogsend.SyslogSender.__init__.__kwdefaults__["path"] = sys.argv[1]  # the test's socket, never the host's /dev/log
from twinstar.engine import log
from twinstar.fastpath.syslogsend import log_line
log.setup()
logger = logging.getLogger("twinstar")
logger.error("step failed\\nsecond line")
logger.info("step ok")
log_line("hook verdict", error=True)
"""


def run_child(tmp_path: Path, *, stream_of: Path | None) -> tuple[str, list[str]]:
    """The child's stderr, and the messages it sent to syslog."""
    err = tmp_path / "stderr"
    logger = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    logger.bind(str(tmp_path / "log"))
    logger.setblocking(False)
    env = clean_environ()
    env.pop("JOURNAL_STREAM", None)
    if stream_of is not None:
        stream_of.touch()
        st = os.stat(stream_of)
        env["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino}"
    with open(err, "w") as f:
        subprocess.run([sys.executable, "-c", CHILD, str(tmp_path / "log")], stderr=f, env=env, cwd=REPO, check=True, timeout=60)
    sent = []
    while True:
        try:
            sent.append(logger.recv(4096).decode().split(": ", 1)[1])
        except BlockingIOError:
            break
    logger.close()
    return err.read_text(), sent


def test_stderr_that_is_the_journal_stream_gets_each_line_once_with_its_priority(tmp_path: Path) -> None:
    out, sent = run_child(tmp_path, stream_of=tmp_path / "stderr")
    assert out == "<3>step failed\n<3>second line\n<6>step ok\n<3>hook verdict\n"
    assert sent == []  # journald would store a syslog copy as a second line


@pytest.mark.parametrize("stream", ["none", "another file"])
def test_any_other_stderr_gets_the_terminal_format(tmp_path: Path, stream: str) -> None:
    other = tmp_path / "other" if stream == "another file" else None
    out, sent = run_child(tmp_path, stream_of=other)
    assert out == "twinstar: error: step failed\nsecond line\ntwinstar: step ok\ntwinstar: error: hook verdict\n"
    assert sent == ["step failed\nsecond line", "step ok", "hook verdict"]
