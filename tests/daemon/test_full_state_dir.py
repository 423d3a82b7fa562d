"""The daemon on a full ``state_dir`` (a real small tmpfs): it logs what it cannot journal and keeps its duties.

The daemon runs in-process behind :class:`FakeMonitor` (the netlink socket
is the only stand-in) with the real engine and command steps, whose state
files are outside the tmpfs. Once the node is active the tmpfs is filled
and the journal's last page is filled with a padding line, so that the next
journal line needs a page that is not there: ENOSPC, as a journal that has
grown to a page boundary on a full ``state_dir`` gets.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from tests.daemon.helpers import FakeMonitor, arrive, make_daemon, role, sysfs, write_config
from tests.support.smallfs import PAGE, fill, tmpfs

pytestmark = [pytest.mark.privileged, pytest.mark.programs("test", "touch")]  # programs: what twinstar runs in this process


def _fill_journal_page(journal: Path) -> None:
    """Append one valid line that ends the journal exactly at a page boundary."""
    need = -journal.stat().st_size % PAGE or PAGE
    if need < 16:
        need += PAGE
    with journal.open("ab") as f:
        f.write(b'{"pad": "' + b"x" * (need - 12) + b'"}\n')
    assert journal.stat().st_size % PAGE == 0


@pytest.mark.parametrize("mode", ["log", "restart"])
def test_a_step_found_down_on_a_full_state_dir_is_handled_and_the_daemon_goes_on(
    tmp_path: Path, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    fake = sysfs(tmp_path)
    monitor = FakeMonitor()
    clock = [1000.0]
    path = write_config(tmp_path, 1, daemon=f"daemon: {{check_interval: 5, evaluate_interval: 3600, on_step_down: {mode}}}\n")
    state = tmp_path / "state"
    with tmpfs(state, pages=64):
        daemon = make_daemon(path, monitor)
        daemon.monotonic = lambda: clock[0]
        daemon.start()
        try:
            arrive(fake, 0, monitor)
            daemon.run_once(0)
            assert role(state) == "active"
            journal = state / "journal.jsonl"
            _fill_journal_page(journal)
            fill(state, 0)
            size = journal.stat().st_size
            for _ in range(2):  # a second round: the daemon still checks after the failed write
                (tmp_path / "up-1").unlink()  # the step goes down behind the daemon's back
                clock[0] += 5
                with caplog.at_level(logging.ERROR, logger="twinstar.daemon"):
                    daemon.run_once(0)
                entry = daemon.snapshot()["checks"]["command:c1"]
                assert entry["last_down"]["action"] == ("logged" if mode == "log" else "restarted"), entry
                assert (tmp_path / "up-1").exists() == (mode == "restart")
                assert any("journal:" in m and "No space left on device" in m for m in caplog.messages), caplog.messages
                caplog.clear()
                if mode == "log":
                    (tmp_path / "up-1").touch()
            assert journal.stat().st_size == size
            assert all(isinstance(json.loads(line), dict) for line in journal.read_bytes().splitlines())
            assert role(state) == "active"
        finally:
            daemon.stop()
