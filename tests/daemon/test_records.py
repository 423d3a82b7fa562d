"""daemon.json matches its typed records (twinstar/daemon/status.py): no key written but not declared, or declared but not written."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any, get_type_hints, is_typeddict

import pytest

from tests.daemon.helpers import FakeMonitor, arrive, make_daemon, sysfs, write_config
from tests.support.records import fits, mismatch
from twinstar.daemon import status as daemon_records

pytestmark = pytest.mark.programs("test", "touch")


def _check_nested(value: dict[str, Any], record: Any, where: str) -> None:
    assert fits(value, record), f"{where}: {mismatch(value, record)}"
    for key, kind in get_type_hints(record).items():
        inner = value.get(key)
        candidates = [t for t in getattr(kind, "__args__", (kind,)) if is_typeddict(t)]
        if isinstance(inner, dict) and candidates and key != "checks":
            _check_nested(inner, candidates[0], f"{where}.{key}")


def test_daemon_json_matches_its_record(tmp_path: Path) -> None:
    """daemon.json after a takeover and a step found down: the snapshot's keys plus ``updated``, nested records too."""
    path = write_config(tmp_path, 1)
    arrive(sysfs(tmp_path), 0)
    daemon = make_daemon(path, FakeMonitor())
    daemon.start()
    try:
        (tmp_path / "up-2").unlink()
        daemon.check_steps()
        daemon.run_once(0)
        os.kill(os.getpid(), signal.SIGTERM)
        daemon.run_once(0)
    finally:
        daemon.stop()
    data = json.loads((tmp_path / "state" / "daemon.json").read_text())
    assert data.pop("updated") > 0
    _check_nested(data, daemon_records.DaemonSnapshot, "daemon.json")
    assert data["checks"], "no step was checked"
    for name, check in data["checks"].items():
        _check_nested(check, daemon_records.StepCheck, f"checks.{name}")
        assert check["last_down"] is None or fits(check["last_down"], daemon_records.StepDown)
    assert data["readiness"]["units"] and all(fits(u, daemon_records.UnitJson) for u in data["readiness"]["units"])
