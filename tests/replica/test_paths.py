"""Path validation and in-use detection (no root needed)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from twinstar.errors import BadInputError
from twinstar.replica import inuse
from twinstar.replica.manifest import ManifestError, parse_manifest
from twinstar.replica.paths import Replica, canonical, check_placement


@pytest.mark.parametrize(
    ("raw", "message"),
    [("etc/asterisk", "must be absolute"), ("", "must be absolute"), ("/", "root directory"), ("//", "root directory"), ("/a\x00b", "NUL")],
)
def test_canonical_rejects(raw: str, message: str) -> None:
    with pytest.raises(BadInputError, match=message):
        canonical(raw)


def test_canonical_resolves_the_parent_but_not_the_path(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "alias").symlink_to("real")
    (tmp_path / "real" / "leaf").symlink_to("/nowhere")
    assert canonical(f"{tmp_path}/alias/./leaf/") == f"{tmp_path.resolve()}/real/leaf"


@pytest.mark.parametrize(
    ("path", "message"),
    [("/replica", "the replica itself"), ("/replica/etc", "inside the replica"), ("/", "holds the replica")],
)
def test_placement(path: str, message: str) -> None:
    with pytest.raises(BadInputError, match=message):
        check_placement(path, Replica("/replica"))


@pytest.mark.parametrize(
    ("path", "root"),
    [("/replica-old", "/replica"), ("/repl", "/replica"), ("/srv/rep", "/srv/replica"), ("/etc/asterisk", "/srv/replica")],
)
def test_placement_accepts_a_sibling_with_a_common_prefix(path: str, root: str) -> None:
    """A path that shares only a string prefix with the replica is neither inside it nor holding it."""
    replica = Replica(root)
    assert not replica.contains(path)
    assert check_placement(path, replica) is None  # accepted: no BadInputError


def test_processes_using_a_path_are_named(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "open.txt").write_text("x")
    holder = subprocess.Popen(
        ["python3", "-c", "import sys,time; f=open(sys.argv[1]); print(flush=True); time.sleep(300)", str(tmp_path / "conf" / "open.txt")],
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None
        holder.stdout.readline()
        found = inuse.users(str(tmp_path / "conf"))
        hows = {u.how.split()[0] for u in found if u.pid == holder.pid}
        assert hows == {"fd"}
        assert f"pid {holder.pid} (python3)" in inuse.describe(found)
        assert inuse.users(str(tmp_path / "con")) == []
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.parametrize("path", ["/", "/etc/../asterisk", "/etc/asterisk/", "//etc", "/etc/a\x00b", "etc/asterisk"])
def test_a_managed_list_with_an_odd_path_is_refused(path: str) -> None:
    """A damaged list must never make replica link act on /, or on a path it did not write."""
    raw = {"version": 1, "replica": "/replica", "paths": [{"path": "/etc/asterisk"}, {"path": path}]}
    with pytest.raises(ManifestError, match=r"paths\[1\]"):
        parse_manifest(raw, "managed.json")
    assert parse_manifest({"paths": [{"path": "/etc/asterisk"}]}, "m").paths == ["/etc/asterisk"]
