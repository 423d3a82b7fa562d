"""The daemon and the pair policy: a failed takeover retried when its delay is over (the loop's own timer),
the alarm in sd_notify's STATUS, and a step that cannot be restarted handed over.

Stand-ins: the fake sysfs tree and the fake uevent monitor (tests/daemon/helpers.py); the steps are real
command steps (shell scripts).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.daemon.helpers import (
    FakeMonitor,
    arrive,
    make_daemon,
    role,
    sysfs,
    transitions,
    write_config,
)

pytestmark = pytest.mark.programs("start", "true", "test", "false")


def _start(tmp_path: Path, fail_first: int | None) -> str:
    count = tmp_path / "starts"
    script = tmp_path / "start"
    fails = "true" if fail_first is None else f"[ $(wc -l < '{count}') -le {fail_first} ]"
    script.write_text(f"#!/bin/sh\necho x >> '{count}'\nif {fails}; then exit 1; fi\ntouch '{tmp_path}/up'\n")
    script.chmod(0o755)
    return f"  - command: {{name: pbx, start: [{script}], stop: [/bin/true], check: [/usr/bin/test, -e, {tmp_path}/up]}}\n"


def test_the_daemon_retries_a_failed_takeover_when_its_delay_is_over(tmp_path: Path) -> None:
    fake, monitor = sysfs(tmp_path), FakeMonitor()
    cfg = write_config(tmp_path, 1, steps=_start(tmp_path, 1), daemon="daemon: {evaluate_interval: 3600}\npolicy: {retry_delay: 0.2}\n")
    daemon = make_daemon(cfg, monitor)
    daemon.start()
    try:
        arrive(fake, 0, monitor)
        daemon.run_once(0)
        assert role(tmp_path / "state") == "failed" and transitions(tmp_path / "state") == ["takeover"]
        assert daemon._time_to_next() <= 0.2  # the retry, not the hour's periodic look
        for _ in range(3):  # the loop wakes for the retry by itself
            daemon.run_once(30)
            if role(tmp_path / "state") == "active":
                break
        assert role(tmp_path / "state") == "active" and transitions(tmp_path / "state") == ["takeover", "takeover"]
    finally:
        daemon.stop()


def test_a_node_that_cannot_serve_says_so_in_its_status_line(tmp_path: Path) -> None:
    fake, monitor = sysfs(tmp_path), FakeMonitor()
    usb = f"usb: {{simulator: {tmp_path}/no-such-sim.json}}\n"
    cfg = write_config(tmp_path, 1, steps=_start(tmp_path, None), daemon=f"daemon: {{evaluate_interval: 0.1}}\npolicy: {{retries: 0}}\n{usb}")
    daemon = make_daemon(cfg, monitor)
    daemon.start()
    try:
        arrive(fake, 0, monitor)
        daemon.run_once(0)
        assert role(tmp_path / "state") == "failed"
        daemon.run_once(30)  # the periodic look: tries spent, the peer's power unknown -> stay and alarm
        assert "ALARM: cannot serve" in daemon.status_line(), daemon.status_line()
        assert transitions(tmp_path / "state") == ["takeover"]
    finally:
        daemon.stop()
