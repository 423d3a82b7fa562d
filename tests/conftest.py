"""Shared test plumbing.

Tests that need root (namespaces, mounts, loop devices) call
:func:`require_root` or carry ``@pytest.mark.privileged``. Without root they
skip with a reason; with ``TWINSTAR_REQUIRE_PRIVILEGED=1`` (set by CI) such a
skip is a failure instead, so CI cannot pass by skipping.
"""

from __future__ import annotations

import os
import shlex
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


@pytest.fixture(autouse=True)
def _declared_programs(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fail a test whose process runs a program it did not declare with ``@pytest.mark.programs(NAME, ...)``.

    Every program twinstar runs in this process goes through
    :meth:`twinstar.engine.proc.ProgramRunner.run`; NAME is the base name of
    ``argv[0]`` (``drbdadm``, ``true``). A run in a thread, or one whose
    failure the code under test catches, still fails the test at teardown.
    Programs that twinstar runs in a child process are not seen here.
    """
    from twinstar.engine.proc import ProgramRunner

    marker = request.node.get_closest_marker("programs")
    declared = set(marker.args) if marker is not None else set()
    undeclared: list[str] = []
    real_run = ProgramRunner.run

    def run(self: ProgramRunner, argv, *args, **kwargs):  # type: ignore[no-untyped-def]
        name = os.path.basename(str(argv[0])) if argv else ""
        if name not in declared:
            undeclared.append(shlex.join(str(a) for a in argv))
            pytest.fail(f"undeclared program run: {shlex.join(str(a) for a in argv)}; add @pytest.mark.programs({name!r})", pytrace=False)
        return real_run(self, argv, *args, **kwargs)

    monkeypatch.setattr(ProgramRunner, "run", run)
    yield
    if undeclared:
        pytest.fail("undeclared program runs: " + "; ".join(undeclared), pytrace=False)


@pytest.fixture
def config_file(tmp_path: Path) -> Iterator[object]:
    """Write a configuration file (mode 0644) and return its path."""

    def write(text: str, name: str = "twinstar.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        path.chmod(0o644)
        return path

    yield write
