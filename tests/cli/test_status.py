"""``twinstar status``: USB units, node role and last transition, readiness, daemon, in one report.

Stand-ins: the USB simulator (a pyusb backend) and the fake sysfs tree; the
status command, the engine that records the role and the readers are real.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli import run_twinstar
from tests.support.node import REPO, Node

# The programs twinstar runs in this process (tests/conftest.py fails any other).
pytestmark = pytest.mark.programs("true")


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    yield Node(tmp_path)


def _status(node: Node, *args: str) -> subprocess.CompletedProcess[str]:
    return run_twinstar(node.config_path, "status", *args, env=node.environ())


def _setup(node: Node, tmp_path: Path, *, units_on_usb: int) -> None:
    sim_file = tmp_path / "units.json"
    assert run_twinstar(None, "sim", "init", str(sim_file), "--units", "2").returncode == 0
    if units_on_usb == 0:
        assert run_twinstar(None, "sim", "set", str(sim_file), "all", "port=1").returncode == 0
    node.configure(extra=f"usb: {{simulator: {sim_file}, simulator_port: 0}}\n")
    node.listed(2)


def test_status_shows_units_role_readiness_and_daemon(node: Node, tmp_path: Path) -> None:
    _setup(node, tmp_path, units_on_usb=2)
    node.arrive(0)
    r = _status(node, "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert [u["label"] for u in data["units"]] == ["usb:SIM00001", "usb:SIM00002"]
    assert data["node"]["role"] == "standby" and data["node"]["last_transition"] is None
    assert [(i["label"], i["state"]) for i in data["readiness"]["listed"]] == [
        ("usb:00000000", "ready"),
        ("usb:00000001", "missing"),
    ]
    assert data["daemon"] is None

    node.arrive(1)
    assert node.evaluate(None).decision.action == "takeover"
    r = _status(node)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0].split() == ["DEVICE", "PORT", "WATCHDOG", "POWER0", "POWER1"]
    assert len(r.stdout.splitlines()) == 3, "by default the vendor's table only"
    r = _status(node, "-v")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split()[:6] == ["DEVICE", "LABEL", "PORT", "WATCHDOG", "POWER0", "POWER1"]
    assert any(line.startswith("node test: active since ") for line in lines)
    assert any(line.startswith("last transition: takeover ok in ") for line in lines)
    assert any("2/2 ready" in line for line in lines)
    assert not any(line.startswith("role: ") for line in lines), "the role is shown once, in the node line"
    data = json.loads(_status(node, "--json").stdout)
    assert data["node"]["role"] == "active"
    assert data["node"]["last_transition"]["action"] == "takeover"


def test_status_on_a_standby_node_without_units_is_not_an_error(node: Node, tmp_path: Path) -> None:
    _setup(node, tmp_path, units_on_usb=0)
    r = _status(node)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["DEVICE", "PORT", "WATCHDOG", "POWER0", "POWER1"]
    r = _status(node, "--long")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == "USB: no TwinStar-capable Astribank is connected to this host"
    assert "node test: standby" in r.stdout


def test_status_with_a_broken_state_file_reports_it(node: Node, tmp_path: Path) -> None:
    _setup(node, tmp_path, units_on_usb=2)
    node.state_dir.mkdir(mode=0o700)
    (node.state_dir / "state.json").write_text("{not json")
    r = _status(node, "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["node"]["role"] is None
    assert "not valid JSON" in data["node"]["error"]


def test_status_json_is_strict_utf8_json_with_a_non_utf8_label(node: Node, tmp_path: Path) -> None:
    _setup(node, tmp_path, units_on_usb=2)
    node.order([b"usb:\xff\xfe"])
    node.sysfs.arrive(0, label=b"usb:\xff\xfe".decode("utf-8", "surrogateescape"), connector="usb-0000:00:1d.7-1")
    r = subprocess.run(
        [sys.executable, "-m", "twinstar", "--config", str(node.config_path), "status", "--json"],
        env=node.environ(), cwd=REPO, capture_output=True, timeout=60,
    )
    assert r.returncode == 0, r.stderr
    r.stdout.decode("utf-8")  # strict
    text = r.stdout.decode()
    assert "\\udc" not in text
    data = json.loads(text)
    assert data["readiness"]["listed"][0]["label"] == "usb:\\xff\\xfe"
    assert data["readiness"]["listed"][0]["state"] == "ready"
