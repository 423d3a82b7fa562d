"""``twinstar replica add`` when a write fails: the tree stays as it was, or a re-run completes it.

Real failures only: the replica (a loop-mounted ext4) is filled up, or the
filesystem holding the path and the local managed list (another loop-mounted
ext4) is remounted read-only, at each stage of the move (the move's
checkpoint); an immutable file (``chattr +i``) makes the removal of the
original fail half-way. After each failure nothing is lost (the original is
whole at its path or under a helper name, or verified on the replica) and,
once the cause is gone, running ``replica add`` again completes the move.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.replica.helpers import Node, build_sample_tree, fill_inodes, snapshot, twinstar
from twinstar.errors import TwinstarError
from twinstar.replica.move import Mover, Stage

pytestmark = pytest.mark.privileged

#: The stages a move passes with the atomic exchange (the default).
STAGES = [s for s in Stage if s != Stage.MOVED_ASIDE]


#: After the original's removal only the replica's journal is written: a read-only system changes nothing.
NOTHING_LEFT_TO_WRITE = {("system read-only", Stage.OLD_REMOVED)}


def _fill(directory: Path) -> list[Path]:
    """Use up every free block and inode of the filesystem holding ``directory``."""
    made = [directory / "fill-blocks"]
    with open(made[0], "wb") as f:
        try:
            while True:
                f.write(b"\0" * (1 << 20))
                f.flush()
        except OSError:
            pass
    return made + fill_inodes(directory)


def _remount(mountpoint: Path, mode: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{mode}", str(mountpoint)], check=True)


@pytest.fixture
def setup(tmp_path: Path, loopfs) -> Callable[[], tuple[Node, Path]]:
    """A node whose path and local managed list live on their own filesystem (``system``)."""

    def make() -> tuple[Node, Path]:
        system = loopfs("system")
        node = Node(tmp_path, loopfs("replica"))
        build_sample_tree(node.path)
        node.local_manifest = system.mountpoint / "conf" / "replica-managed.json"
        return node, system.mountpoint

    return make


def _mover(node: Node, checkpoint: Callable[[Stage], None] = lambda stage: None) -> Mover:
    return Mover(node.replica, str(node.local_manifest), checkpoint=checkpoint)


def _assert_nothing_lost(node: Node, before: dict[str, tuple[object, ...]]) -> None:
    mp = node.mp
    if os.path.lexists(mp.path) and not os.path.islink(mp.path):
        assert snapshot(mp.path) == before, "the original changed although the move stopped before the switch"
        return
    holders = [p for p in (mp.old, mp.link_tmp, mp.target) if os.path.lexists(p) and not os.path.islink(p)]
    assert any(snapshot(p) == before for p in holders), holders


@pytest.mark.parametrize("fault", ["replica full", "system read-only"])
@pytest.mark.parametrize("stage", STAGES, ids=[s.value for s in STAGES])
def test_a_failed_write_at_each_stage_loses_nothing_and_a_rerun_completes(setup, fault: str, stage: Stage) -> None:
    node, system = setup()
    before = snapshot(node.path)
    undo: list[Callable[[], None]] = []

    def inject(reached: Stage) -> None:
        if reached != stage or undo:
            return
        if fault == "replica full":
            filled = _fill(Path(node.replica.root))
            undo.append(lambda: [p.unlink() for p in filled] and None)
        else:
            _remount(system, "ro")
            undo.append(lambda: _remount(system, "rw"))

    try:
        if (fault, stage) in NOTHING_LEFT_TO_WRITE:
            _mover(node, inject).add([str(node.path)])
            assert undo, "the stage was never reached"
            node.assert_moved(before)
            return
        with pytest.raises(TwinstarError) as failed:
            _mover(node, inject).add([str(node.path)])
        assert undo, "the stage was never reached"
        assert "the move stopped" in str(failed.value) or "untouched" in str(failed.value), failed.value
        _assert_nothing_lost(node, before)
    finally:
        for action in undo:
            action()
    reports = _mover(node).add([str(node.path)])
    assert [r.path for r in reports] == [str(node.path)]
    node.assert_moved(before)


def test_a_removal_of_the_original_that_fails_half_way_is_finished_by_a_rerun(setup) -> None:
    """The original's removal stops at an immutable file, after removing the entries before it."""
    node, _system = setup()
    before = snapshot(node.path)
    old = Path(node.mp.old)
    pinned: list[Path] = []

    def pin(reached: Stage) -> None:
        if reached == Stage.RECORDED:
            # The removal visits the entries in directory order: pin the last file or directory.
            entries = [old / name for name in os.listdir(old)]
            pinned.append([e for e in entries if e.is_file() and not e.is_symlink() or e.is_dir() and not e.is_symlink()][-1])
            subprocess.run(["chattr", "+i", str(pinned[0])], check=True)

    try:
        with pytest.raises(TwinstarError, match="the move stopped: Operation not permitted"):
            _mover(node, pin).add([str(node.path)])
        assert old.exists() and snapshot(old) != before, "the removal removed nothing before it failed"
        assert snapshot(node.mp.target) == before
    finally:
        for path in pinned:
            subprocess.run(["chattr", "-i", str(path)], check=True)
    _mover(node).add([str(node.path)])
    node.assert_moved(before)


def test_a_relative_configuration_path_works_and_writes_the_list_next_to_it(tmp_path: Path, loopfs) -> None:
    node = Node(tmp_path, loopfs())
    build_sample_tree(node.path)
    before = snapshot(node.path)
    result = twinstar("-c", "twinstar.yaml", "replica", "add", str(node.path), cwd=node.config.parent)
    assert result.returncode == 0, result.stderr
    node.assert_moved(before)  # including the local list next to the configuration


def test_a_local_list_that_cannot_be_written_fails_before_anything_changes(tmp_path: Path, loopfs) -> None:
    node = Node(tmp_path, loopfs())
    build_sample_tree(node.path)
    before = snapshot(node.path)
    (tmp_path / "a-file").write_text("")
    local = tmp_path / "a-file" / "replica-managed.json"
    result = node.run("--local-manifest", str(local), "add", str(node.path))
    assert result.returncode == 1, result.stderr
    assert f"local managed-path list {local}: Not a directory" in result.stderr
    node.assert_untouched(before)
