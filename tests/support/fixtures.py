"""Fixtures over the real rigs of rigs.py: a veth pair between namespaces, a loop-mounted ext4, started processes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.rigs import Pair, Volume, kill_if_alive, loop_volume, netns_pair


@pytest.fixture
def pair() -> Iterator[Pair]:
    with netns_pair("10.213.1.2/24") as p:
        yield p


@pytest.fixture
def volume(tmp_path: Path) -> Iterator[Volume]:
    with loop_volume(tmp_path) as v:
        yield v


@pytest.fixture
def processes() -> Iterator[list[int]]:
    """PIDs of processes the test started or learned of; SIGKILLed at the end if still there."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        kill_if_alive(pid)
