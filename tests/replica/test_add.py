"""``twinstar replica add`` on a real loop-mounted ext4 replica.

No stand-ins: real ext4 on a loop device, real renames, real SIGKILL at each
stage of the move (the ``TWINSTAR_REPLICA_CRASH_AT`` checkpoint), real
processes holding paths open. The "system" paths are under the test's
temporary directory.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
from pathlib import Path

import pytest

from tests.replica.helpers import Node, build_sample_tree, fill_inodes, snapshot, twinstar
from twinstar.replica.move import CRASH_ENV, Mover, Stage, SwitchMode

pytestmark = pytest.mark.privileged


@pytest.fixture
def node(tmp_path: Path, loopfs) -> Node:
    n = Node(tmp_path, loopfs())
    build_sample_tree(n.path)
    return n


def test_add_moves_the_tree_and_keeps_everything(node: Node) -> None:
    before = snapshot(node.path)
    # The sample holds every kind of file, owners other than root, set-id bits, xattrs and a hard link.
    kinds = {entry[0] for entry in before.values()}
    assert kinds == {stat.S_IFDIR, stat.S_IFREG, stat.S_IFLNK, stat.S_IFIFO, stat.S_IFCHR, stat.S_IFSOCK}
    assert {entry[2] for entry in before.values()} >= {0, 1234, 65534}
    assert any(entry[1] & 0o6000 for entry in before.values())
    assert any(entry[9] for entry in before.values()) and any(entry[10] for entry in before.values())
    result = node.run("add", str(node.path))
    assert result.returncode == 0, result.stderr
    assert f"moved {node.path} -> {node.mp.target}" in result.stdout
    node.assert_moved(before)
    # The replica's copies of the parents carry the originals' owner and mode.
    parent = os.stat(node.replica.target(str(node.etc)))
    assert (parent.st_mode & 0o7777, parent.st_uid) == (os.stat(node.etc).st_mode & 0o7777, os.stat(node.etc).st_uid)


def test_a_single_file_can_be_managed(node: Node) -> None:
    single = node.etc / "odbc.ini"
    single.write_text("[asterisk]\n")
    os.chown(single, 1234, 5678)
    before = snapshot(single)
    result = node.run("add", str(single))
    assert result.returncode == 0, result.stderr
    assert os.readlink(single) == node.replica.target(str(single))
    assert snapshot(node.replica.target(str(single))) == before


CRASH_STAGES = [s for s in Stage if s != Stage.MOVED_ASIDE]


@pytest.mark.parametrize("stage", CRASH_STAGES, ids=[s.value for s in CRASH_STAGES])
def test_killed_at_every_stage_a_rerun_converges(node: Node, stage: Stage) -> None:
    before = snapshot(node.path)
    crashed = node.run("add", str(node.path), env={CRASH_ENV: stage.value})
    assert crashed.returncode == -signal.SIGKILL, (crashed.returncode, crashed.stderr)

    # Nothing is lost at the moment of the crash: the original is whole somewhere.
    mp = node.mp
    holders = [p for p in (mp.path, mp.link_tmp, mp.old, mp.target) if os.path.lexists(p)]
    assert any(snapshot(p) == before for p in holders if not os.path.islink(p) or p == mp.path), holders
    assert mp.path in node.journal()

    rerun = node.run("add", str(node.path))
    assert rerun.returncode == 0, rerun.stderr
    assert "completed the interrupted move" in rerun.stdout
    node.assert_moved(before)


@pytest.mark.parametrize(
    "stage",
    [Stage.COPYING, Stage.COMMITTED, Stage.LINK_CREATED, Stage.MOVED_ASIDE, Stage.SWITCHED, Stage.RECORDED],
    ids=lambda s: s.value,
)
def test_rename_fallback_interrupted_converges(node: Node, stage: Stage) -> None:
    """The two-rename switch (filesystems without RENAME_EXCHANGE), interrupted in-process."""

    class Crash(BaseException):
        pass

    def crash(at: Stage) -> None:
        if at == stage:
            raise Crash

    before = snapshot(node.path)
    first = Mover(node.replica, str(node.local_manifest), checkpoint=crash, switch=SwitchMode.RENAME)
    with pytest.raises(Crash):
        first.add([str(node.path)])
    second = Mover(node.replica, str(node.local_manifest), switch=SwitchMode.RENAME)
    reports = second.add([str(node.path)])
    assert [r.outcome.value for r in reports] == ["resumed"]
    node.assert_moved(before)


def test_original_changed_after_the_copy_is_copied_again(node: Node) -> None:
    crashed = node.run("add", str(node.path), env={CRASH_ENV: Stage.COMMITTED.value})
    assert crashed.returncode == -signal.SIGKILL
    (node.path / "sip.conf").write_text("[general]\ncontext=changed-after-the-copy\n")
    before = snapshot(node.path)
    rerun = node.run("add", str(node.path))
    assert rerun.returncode == 0, rerun.stderr
    node.assert_moved(before)
    assert "changed-after-the-copy" in (Path(node.mp.target) / "sip.conf").read_text()


def test_original_that_differs_from_the_copy_is_kept(node: Node) -> None:
    crashed = node.run("add", str(node.path), env={CRASH_ENV: Stage.SWITCHED.value})
    assert crashed.returncode == -signal.SIGKILL
    old = Path(node.mp.old)
    (old / "sip.conf").write_text("written during the move\n")
    rerun = node.run("add", str(node.path))
    assert rerun.returncode == 1
    assert f"kept the original at {old}" in rerun.stderr
    assert (old / "sip.conf").read_text() == "written during the move\n"


def test_full_replica_leaves_the_original_untouched(tmp_path: Path, loopfs) -> None:
    node = Node(tmp_path, loopfs(size_mb=8))
    build_sample_tree(node.path)
    (node.path / "recordings.bin").write_bytes(os.urandom(12 * 1024 * 1024))
    before = snapshot(node.path)
    result = node.run("add", str(node.path))
    assert result.returncode == 1, result.stderr
    assert "is full" in result.stderr and "untouched" in result.stderr
    assert "Traceback" not in result.stderr
    node.assert_untouched(before)


def test_path_in_use_is_refused_unless_forced(node: Node) -> None:
    before = snapshot(node.path)
    holder = subprocess.Popen(["sleep", "300"], cwd=node.path / "keys")
    try:
        refused = node.run("add", str(node.path))
        assert refused.returncode == 3, refused.stderr
        assert f"pid {holder.pid} (sleep)" in refused.stderr
        node.assert_untouched(before)

        forced = node.run("add", "--force", str(node.path))
        assert forced.returncode == 0, forced.stderr
        node.assert_moved(before)
    finally:
        holder.kill()
        holder.wait()


def test_bad_paths_change_nothing(node: Node) -> None:
    before = snapshot(node.path)
    replica_before = sorted(os.listdir(node.replica.root))
    root = node.replica.root
    cases = {
        "etc/asterisk": "must be absolute",
        str(node.etc / "nonexistent"): "does not exist",
        "/": "root directory",
        root: "is the replica itself",
        os.path.join(root, "lost+found"): "inside the replica",
        os.path.dirname(root): "holds the replica",
    }
    for path, message in cases.items():
        result = node.run("add", str(node.path), path)
        assert result.returncode == 2, (path, result.stderr)
        assert message in result.stderr, (path, result.stderr)
        assert result.stderr.startswith("twinstar: error: ")
    node.assert_untouched(before)
    assert sorted(os.listdir(node.replica.root)) == replica_before


def test_unmounted_replica_is_refused(node: Node) -> None:
    node.fs.umount()
    before = snapshot(node.path)
    result = node.run("add", str(node.path))
    assert result.returncode == 2
    assert "is not mounted on this node" in result.stderr
    assert snapshot(node.path) == before
    assert os.listdir(node.replica.root) == []


def test_a_path_already_linked_is_refused(node: Node) -> None:
    assert node.run("add", str(node.path)).returncode == 0
    again = node.run("add", str(node.path))
    assert again.returncode == 2
    assert "already a link into the replica" in again.stderr


def test_a_replica_that_already_holds_the_path_is_refused(node: Node) -> None:
    os.makedirs(node.mp.target)
    before = snapshot(node.path)
    result = node.run("add", str(node.path))
    assert result.returncode == 2
    assert f"the replica already holds {node.mp.target}" in result.stderr
    assert snapshot(node.path) == before


def test_without_a_drbd_step_the_replica_must_be_named(node: Node) -> None:
    node.config.write_text("node: pbx-a\ntakeover:\n  - service: asterisk\n")
    result = node.run("add", str(node.path))
    assert result.returncode == 2
    assert "no drbd step" in result.stderr and "--replica PATH" in result.stderr
    named = twinstar(
        "--config", str(node.config), "replica", "--replica", node.replica.root, "add", str(node.path)
    )
    assert named.returncode == 0, named.stderr


def test_replica_full_before_the_journal_is_written_is_a_clear_error(node: Node) -> None:
    """Even the move's first journal entry cannot be written: one clear line, the original untouched."""
    first = node.etc / "odbc.ini"
    first.write_text("[asterisk]\n")
    assert node.run("add", str(first)).returncode == 0  # the replica's own files exist now
    fill = fill_inodes(Path(node.replica.root))
    before = snapshot(node.path)
    result = node.run("add", str(node.path))
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith(
        f"twinstar: error: {node.path}: the move stopped: the replica filesystem {node.replica.root} is full "
        f"({node.path} is untouched; fix the cause, then run twinstar replica add {node.path} again)"
    ), result.stderr
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    assert snapshot(node.path) == before and not os.path.islink(node.path)
    for path in fill:
        path.unlink()
    rerun = node.run("add", str(node.path))
    assert rerun.returncode == 0, rerun.stderr
    assert snapshot(node.mp.target) == before
    assert node.managed() == [str(first), str(node.path)]
