"""Fixtures of the daemon tests."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[socket.socket]:
    """A real unix datagram socket at ``tmp_path/notify``, as systemd listens on; a read waits at most 30 s."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify"))
    sock.settimeout(30)
    try:
        yield sock
    finally:
        sock.close()
