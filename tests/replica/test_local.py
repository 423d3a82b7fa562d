"""xpp_order, /etc/dahdi and twinstar's configuration never move onto the replica (replica add, twinstar check)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.replica.helpers import Node, snapshot
from twinstar.config import parse
from twinstar.ops.checks import check_local_paths
from twinstar.ops.findings import Level
from twinstar.replica.local import conflict, keep_local, moved_away

LOCAL = keep_local("/etc/dahdi/xpp_order", "/etc/twinstar/twinstar.yaml")


@pytest.mark.parametrize(
    ("path", "word"),
    [
        ("/etc/dahdi/xpp_order", "must stay"),
        ("/etc/dahdi", "must stay"),
        ("/etc/dahdi/system.conf", "is inside /etc/dahdi"),
        ("/etc", "holds /etc/dahdi"),
        ("/etc/twinstar", "must stay"),
        ("/etc/twinstar/twinstar.yaml", "must stay"),
    ],
)
def test_what_must_stay_local_is_refused_with_the_reason(path: str, word: str) -> None:
    why = conflict(path, LOCAL)
    assert why is not None and word in why and ("DAHDI" in why or "twinstar's configuration" in why), why


@pytest.mark.parametrize("path", ["/etc/asterisk", "/var/lib/asterisk", "/etc/dahdi-old", "/var/spool/asterisk"])
def test_the_pbx_configuration_and_data_may_move(path: str) -> None:
    assert conflict(path, LOCAL) is None


def test_a_configured_xpp_order_elsewhere_is_kept_too() -> None:
    local = keep_local("/srv/conf/xpp_order", "/etc/twinstar/twinstar.yaml")
    assert conflict("/srv/conf", local) is not None and conflict("/etc/dahdi", local) is not None


def test_check_finds_a_dahdi_directory_that_leads_into_the_replica(tmp_path: Path) -> None:
    replica, etc = tmp_path / "replica", tmp_path / "etc"
    (replica / "etc" / "dahdi").mkdir(parents=True)
    (replica / "etc" / "dahdi" / "xpp_order").write_text("usb:1\n")
    etc.mkdir()
    os.symlink(replica / "etc" / "dahdi", etc / "dahdi")
    config = parse(
        f"astribanks: {{xpp_order: {etc}/dahdi/xpp_order}}\n"
        f"takeover:\n  - drbd: {{resource: r0, device: /dev/drbd0, mountpoint: {replica}}}\n",
        str(tmp_path / "twinstar.yaml"),
    )
    findings = list(check_local_paths(config))
    assert [f.level for f in findings] == [Level.ERROR, Level.ERROR]
    assert all("leads into the replica" in f.message for f in findings)
    assert moved_away(keep_local(str(tmp_path / "local" / "xpp_order"), str(tmp_path / "t.yaml")), [str(replica)]) == []


@pytest.mark.privileged
def test_replica_add_refuses_the_configuration_directory_and_changes_nothing(tmp_path: Path, loopfs) -> None:
    node = Node(tmp_path, loopfs())
    before = snapshot(node.config.parent)
    result = node.run("add", str(node.config.parent))
    assert result.returncode == 2, result.stderr
    assert "must stay on this node: twinstar's configuration directory" in result.stderr
    assert snapshot(node.config.parent) == before and not os.path.islink(node.config.parent)
