"""Fixtures for the replica tests: a real loop-mounted ext4 replica and a rich sample tree.

The replica is a real ext4 filesystem in a file, attached to a loop device and
mounted (no stand-in). The "system" paths the tests move live under the
test's temporary directory, so nothing outside it is touched.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import require_root


class LoopFs:
    """An ext4 image file on a loop device, mounted at ``mountpoint``."""

    def __init__(self, image: Path, mountpoint: Path, size_mb: int) -> None:
        self.image = image
        self.mountpoint = mountpoint
        self.size_mb = size_mb
        self.device: str | None = None

    def create(self) -> None:
        subprocess.run(["truncate", "-s", f"{self.size_mb}M", str(self.image)], check=True)
        subprocess.run(["mkfs.ext4", "-q", "-F", str(self.image)], check=True)
        self.device = subprocess.run(
            ["losetup", "-f", "--show", str(self.image)], check=True, capture_output=True, text=True
        ).stdout.strip()
        self.mountpoint.mkdir(exist_ok=True)
        self.mount()

    def mount(self) -> None:
        assert self.device
        subprocess.run(["mount", "-t", "ext4", self.device, str(self.mountpoint)], check=True)

    def umount(self) -> None:
        subprocess.run(["umount", str(self.mountpoint)], check=True)

    def mounted(self) -> bool:
        with open("/proc/self/mountinfo") as f:
            return any(line.split(" ")[4] == str(self.mountpoint) for line in f)

    def destroy(self) -> None:
        try:
            if self.mounted():
                subprocess.run(["umount", "-l", str(self.mountpoint)], check=False)
        finally:
            if self.device:
                subprocess.run(["losetup", "-d", self.device], check=False)


@pytest.fixture
def loopfs(tmp_path: Path) -> Iterator[Callable[..., LoopFs]]:
    """A factory for mounted ext4 loop filesystems; all are unmounted and detached afterwards."""
    require_root("a loop-mounted ext4 replica")
    made: list[LoopFs] = []

    def make(name: str = "replica", size_mb: int = 32) -> LoopFs:
        fs = LoopFs(tmp_path / f"{name}.img", tmp_path / name, size_mb)
        made.append(fs)
        fs.create()
        return fs

    try:
        yield make
    finally:
        for fs in reversed(made):
            fs.destroy()
