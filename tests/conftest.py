"""Shared test plumbing.

Tests that need root (namespaces, mounts, loop devices) call
:func:`require_root` or carry ``@pytest.mark.privileged``. Without root they
skip with a reason; with ``TWINSTAR_REQUIRE_PRIVILEGED=1`` (set by CI) such a
skip is a failure instead, so CI cannot pass by skipping.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable

# Fixtures shared across packages: the rigs (pair, volume, processes) and the hotplug node.
pytest_plugins = ["tests.support.fixtures", "tests.support.node"]


def privileged_required() -> bool:
    return os.environ.get("TWINSTAR_REQUIRE_PRIVILEGED") == "1"


def require_root(what: str = "this test") -> None:
    """Skip unless root; fail instead of skipping when privileges are required."""
    if os.geteuid() == 0:
        return
    reason = f"{what} needs root (network namespaces, mounts or loop devices)"
    if privileged_required():
        pytest.fail(f"{reason}, and TWINSTAR_REQUIRE_PRIVILEGED=1 forbids skipping it")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _privileged_marker(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("privileged") is not None:
        require_root(request.node.name)


@pytest.fixture
def config_file(tmp_path: Path) -> Iterator[object]:
    """Write a configuration file (mode 0644) and return its path."""

    def write(text: str, name: str = "twinstar.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        path.chmod(0o644)
        return path

    yield write
