"""``replica list``, ``check`` and ``link``, with the replica mounted (primary) and not (standby).

The standby is this same machine after the real ext4 replica is unmounted:
the links then dangle exactly as on a node where DRBD is secondary.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.replica.helpers import build_sample_tree, snapshot
from tests.replica.test_add import Node

pytestmark = pytest.mark.privileged


@pytest.fixture
def primary(tmp_path: Path, loopfs) -> Node:
    """A node where /etc/asterisk and a single file are already on the mounted replica."""
    n = Node(tmp_path, loopfs())
    build_sample_tree(n.path)
    (n.etc / "odbc.ini").write_text("[asterisk]\n")
    result = n.run("add", str(n.path), str(n.etc / "odbc.ini"))
    assert result.returncode == 0, result.stderr
    return n


def check_json(node: Node) -> tuple[int, dict[str, object]]:
    result = node.run("check", "--json")
    return result.returncode, json.loads(result.stdout)


def test_check_on_the_node_with_the_replica_mounted(primary: Node) -> None:
    rc, report = check_json(primary)
    assert rc == 0
    assert report["ok"] is True and report["mounted"] is True and report["source"] == "replica"
    subjects = {f["subject"]: f["level"] for f in report["findings"]}
    assert subjects == {str(primary.path): "ok", str(primary.etc / "odbc.ini"): "ok"}


def test_check_on_a_node_without_the_replica_reports_dangling_links_as_correct(primary: Node) -> None:
    primary.fs.umount()
    result = primary.run("check")
    assert result.returncode == 0, result.stdout
    assert "not mounted on this node" in result.stdout
    assert "dangling: the replica is not mounted on this node" in result.stdout
    rc, report = check_json(primary)
    assert (rc, report["ok"], report["mounted"], report["source"]) == (0, True, False, "local copy")


def test_check_fails_without_any_managed_list(primary: Node) -> None:
    primary.fs.umount()
    primary.local_manifest.unlink()
    result = primary.run("check")
    assert result.returncode == 1
    assert "no local copy" in result.stdout


def test_check_fails_when_a_managed_path_is_a_local_copy(primary: Node) -> None:
    os.unlink(primary.path)
    primary.path.mkdir()
    result = primary.run("check")
    assert result.returncode == 1
    assert f"  FAIL     {primary.path}: is a local copy, not a link" in result.stdout
    rc, report = check_json(primary)
    assert (rc, report["ok"]) == (1, False)
    assert {f["subject"]: f["level"] for f in report["findings"]}[str(primary.path)] == "fail"


def test_check_fails_when_the_mounted_replica_lacks_the_target(primary: Node) -> None:
    os.unlink(primary.replica.target(str(primary.etc / "odbc.ini")))
    rc, report = check_json(primary)
    assert rc == 1
    assert any("missing on the mounted replica" in f["message"] for f in report["findings"])


def test_check_reports_an_unfinished_move(primary: Node) -> None:
    other = primary.etc / "dahdi"
    build_sample_tree(other)
    crashed = primary.run("add", str(other), env={"TWINSTAR_REPLICA_CRASH_AT": "copied"})
    assert crashed.returncode == -9
    result = primary.run("check")
    assert result.returncode == 1
    assert f"move unfinished (stage copying): run twinstar replica add {other}" in result.stdout


def test_list_reads_the_replica_then_the_local_copy(primary: Node) -> None:
    expected = f"{primary.path}\n{primary.etc / 'odbc.ini'}\n"
    mounted = primary.run("list")
    assert (mounted.returncode, mounted.stdout) == (0, expected)
    primary.fs.umount()
    standby = primary.run("list")
    assert (standby.returncode, standby.stdout) == (0, expected)
    listing = json.loads(primary.run("list", "--json").stdout)
    assert listing["source"] == "local copy" and listing["mounted"] is False


def _make_fresh_standby(node: Node) -> dict[str, tuple[object, ...]]:
    """Turn this node into a freshly installed standby: replica elsewhere, packages' own files in place."""
    node.fs.umount()
    os.unlink(node.path)
    os.unlink(node.etc / "odbc.ini")
    build_sample_tree(node.path)
    (node.path / "installed-by-the-package.conf").write_text("; default\n")
    return snapshot(node.path)


def test_link_on_the_standby_keeps_the_local_copy_aside(primary: Node) -> None:
    local_before = _make_fresh_standby(primary)
    result = primary.run("link")
    assert result.returncode == 0, result.stderr
    mp = primary.mp
    assert os.readlink(mp.path) == mp.target
    assert os.readlink(primary.etc / "odbc.ini") == primary.replica.target(str(primary.etc / "odbc.ini"))
    asides = glob.glob(f"{mp.path}.twinstar-local-*")
    assert len(asides) == 1 and asides[0] in result.stdout
    assert snapshot(asides[0]) == local_before
    assert not os.path.lexists(mp.link_tmp)
    assert primary.run("check").returncode == 0

    # Running it again changes nothing.
    again = primary.run("link")
    assert again.returncode == 0 and "already linked" in again.stdout
    assert glob.glob(f"{mp.path}.twinstar-local-*") == asides

    # After a switchover the replica is mounted here, and the links lead to the data.
    primary.fs.mount()
    assert primary.run("check").returncode == 0
    assert (Path(mp.path) / "sip.conf").read_text().startswith("[general]")


def test_link_on_a_new_standby_takes_the_paths_on_the_command_line(primary: Node) -> None:
    paths = primary.run("list").stdout.split()
    _make_fresh_standby(primary)
    primary.local_manifest.unlink()
    without = primary.run("link")
    assert without.returncode == 2
    assert "no managed list" in without.stderr
    result = primary.run("link", *paths)
    assert result.returncode == 0, result.stderr
    with open(primary.local_manifest) as f:
        assert [e["path"] for e in json.load(f)["paths"]] == paths
    assert primary.run("check").returncode == 0


def test_link_refuses_a_local_copy_in_use(primary: Node) -> None:
    _make_fresh_standby(primary)
    holder = subprocess.Popen(["sleep", "300"], cwd=primary.path)
    try:
        result = primary.run("link")
        assert result.returncode == 3
        assert f"pid {holder.pid} (sleep)" in result.stderr
        assert not os.path.islink(primary.path)
    finally:
        holder.kill()
        holder.wait()


def test_link_with_the_replica_mounted_refreshes_the_local_copy(primary: Node) -> None:
    primary.local_manifest.unlink()
    assert "out of date" in primary.run("check").stdout
    result = primary.run("link")
    assert result.returncode == 0
    assert result.stdout.count("already linked") == 2
    assert "out of date" not in primary.run("check").stdout


def test_link_refuses_a_path_the_replica_does_not_manage(primary: Node) -> None:
    other = primary.etc / "dahdi"
    other.mkdir()
    result = primary.run("link", str(other))
    assert result.returncode == 2
    assert "is not in the managed list on the replica" in result.stderr
    assert other.is_dir() and not other.is_symlink()
    shutil.rmtree(other)


def test_link_on_a_read_only_directory_is_a_clear_error_and_can_be_redone(primary: Node) -> None:
    local_before = _make_fresh_standby(primary)
    etc = str(primary.etc)
    subprocess.run(["mount", "--bind", etc, etc], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", etc], check=True)
        result = primary.run("link")
        assert result.returncode == 1, result.stderr
        assert result.stderr.startswith(
            f"twinstar: error: {primary.path}: cannot link it to {primary.mp.target}: Read-only file system"
        ), result.stderr
        assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    finally:
        subprocess.run(["umount", etc], check=True)
    assert snapshot(primary.path) == local_before  # the local copy is untouched
    again = primary.run("link")
    assert again.returncode == 0, again.stderr
    assert os.readlink(primary.path) == primary.mp.target


def test_link_refuses_a_managed_list_naming_the_replica(primary: Node) -> None:
    primary.fs.umount()
    listing = json.loads(primary.local_manifest.read_text())
    listing["paths"].append({"path": primary.replica.root + "/etc"})
    primary.local_manifest.write_text(json.dumps(listing))
    result = primary.run("link")
    assert result.returncode == 2, result.stderr
    assert f"{primary.replica.root}/etc: is inside the replica" in result.stderr
