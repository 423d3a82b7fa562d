"""daemon.json for ``twinstar status``: the reader and the renderer."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from tests.daemon.helpers import FakeMonitor, arrive, make_daemon, sysfs, write_config
from twinstar import config as config_mod
from twinstar.daemon.status import daemon_status, render_daemon_status

# The programs twinstar runs in this process (tests/conftest.py fails any other).
pytestmark = pytest.mark.programs("test", "touch")


def test_status_of_a_running_then_stopped_daemon(tmp_path: Path) -> None:
    path = write_config(tmp_path, 1)
    config = config_mod.load(str(path), strict_modes=False)
    assert daemon_status(config) is None
    assert render_daemon_status(None)[0].startswith("daemon: not running")
    arrive(sysfs(tmp_path), 0)
    daemon = make_daemon(path, FakeMonitor())
    daemon.start()
    try:
        (tmp_path / "up-2").unlink()  # a step goes down behind the daemon's back
        daemon.check_steps()
        daemon.run_once(0)
        status = daemon_status(config)
        assert status is not None and status["running"] is True and status["pid"] == os.getpid()
        assert status["role"] == "active" and status["readiness"]["summary"] == "1/1 ready"
        assert status["checks"]["command:c2"]["up"] is False
        text = "\n".join(render_daemon_status(status))
        assert f"daemon: running (pid {os.getpid()})" in text
        assert "role active; 1/1 ready" in text
        assert "command:c2" in text and "DOWN (logged)" in text
        assert "last transition: takeover ok" in text
        os.kill(os.getpid(), signal.SIGTERM)
        daemon.run_once(0)
    finally:
        daemon.stop()
    stopped = daemon_status(config)
    assert stopped is not None and stopped["running"] is False
    assert render_daemon_status(stopped)[0].startswith("daemon: not running (last pid")


def test_unreadable_daemon_json_is_reported_not_raised(tmp_path: Path) -> None:
    path = write_config(tmp_path, 1)
    config = config_mod.load(str(path), strict_modes=False)
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "daemon.json").write_text("{not json")
    status = daemon_status(config)
    assert status is not None and status["running"] is False and "not valid JSON" in status["error"]
    assert render_daemon_status(status)[0].startswith("daemon: unknown")
