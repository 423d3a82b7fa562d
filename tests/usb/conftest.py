"""Fixtures for the USB tests: a simulated Astribank state file and the real CLI.

The simulated Astribank (twinstar/usb/sim.py, simbackend.py) stands in for the USB hardware at
the narrowest boundary, the pyusb backend; pyusb, the transport, MPP and the
commands are the production code. Commands run as real processes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import clean_environ, run_twinstar


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


Runner = Callable[..., Run]


def cli_env(*, sim: Path | None = None, port: int | None = None) -> dict[str, str]:
    """This environment without TWINSTAR_*, with no configuration file and the simulator ``sim`` seen from ``port``."""
    full = clean_environ()
    full["TWINSTAR_CONFIG"] = "/nonexistent/twinstar.yaml"
    if sim is not None:
        full["TWINSTAR_USB_SIMULATOR"] = str(sim)
    if port is not None:
        full["TWINSTAR_USB_SIM_PORT"] = str(port)
    return full


def run_cli(*args: str, env: dict[str, str] | None = None, port: int | None = None, sim: Path | None = None) -> Run:
    p = run_twinstar(None, *args, env={**cli_env(sim=sim, port=port), **(env or {})})
    return Run(p.returncode, p.stdout, p.stderr)


@pytest.fixture
def sim_file(tmp_path: Path) -> Path:
    """A state file with three units on port 0, both ports powered, watchdog off."""
    path = tmp_path / "astribanks.json"
    r = run_cli("sim", "init", str(path), "--units", "3")
    assert r.returncode == 0, r.stderr
    return path


@pytest.fixture
def host(sim_file: Path) -> Runner:
    """Run twinstar as the host cabled to port 0 of the simulated units."""

    def run(*args: str, port: int = 0, env: dict[str, str] | None = None) -> Run:
        return run_cli(*args, sim=sim_file, port=port, env=env)

    return run


@pytest.fixture
def cli() -> Runner:
    """Run twinstar with a clean TWINSTAR_* environment and no configuration file."""
    return run_cli


@pytest.fixture
def read_state() -> Callable[[Path], dict[str, Any]]:
    return lambda path: json.loads(path.read_text())
