"""``twinstar check``: one finding per program, interface, mountpoint, state_dir and xpp_order.

Real files and the host's real interfaces (read only: ``lo`` exists in every
network namespace); nothing is changed by ``check``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import require_root
from tests.support.cli import run_twinstar
from twinstar import config as config_mod
from twinstar.ops.checks import CHECKS, Level, check_installation, run_checks

Setup = Callable[[Path], dict[str, str]]


def _write(tmp: Path, *, drbdadm: str, interface: str, mountpoint: str, state_dir: str, xpp_order: str, drain_check: str) -> Path:
    path = tmp / "twinstar.yaml"
    path.write_text(
        f"""node: test
state_dir: {state_dir}
astribanks: {{sysfs: {tmp}, xpp_order: {xpp_order}}}
programs: {{drbdadm: {drbdadm}}}
takeover:
  - drbd: {{resource: r0, device: /dev/drbd0, mountpoint: {mountpoint}}}
  - ip: {{address: 10.213.7.10/24, interface: {interface}}}
switchover: {{drain_check: [{drain_check}, -rx, core show channels count], drain_count_line: active calls}}
"""
    )
    path.chmod(0o644)
    return path


def _good(tmp: Path) -> dict[str, str]:
    (tmp / "replica").mkdir(exist_ok=True)
    (tmp / "xpp_order").write_text("usb:00000135\n")
    return {
        "drbdadm": "/bin/true",
        "interface": "lo",
        "mountpoint": str(tmp / "replica"),
        "state_dir": str(tmp / "state"),
        "xpp_order": str(tmp / "xpp_order"),
        "drain_check": "/bin/echo",
    }


def test_a_usable_configuration_has_only_ok_findings(tmp_path: Path) -> None:
    config = config_mod.load(str(_write(tmp_path, **_good(tmp_path))))
    findings = run_checks(config, [c for c in CHECKS if c is not check_installation])
    assert {f.level for f in findings} == {Level.OK}, findings
    subjects = {f.subject for f in findings}
    assert {"program drbdadm", "program mount", "program /bin/echo", "state_dir", "xpp_order"} <= subjects
    assert {"step drbd:r0", "step ip:10.213.7.10/24"} <= subjects
    assert not (tmp_path / "state").exists(), "check must not create the state directory"


def _state_dir_is_a_file(tmp: Path) -> dict[str, str]:
    (tmp / "statefile").write_text("")
    return {"state_dir": str(tmp / "statefile")}


def _state_dir_is_a_symlink(tmp: Path) -> dict[str, str]:
    (tmp / "real").mkdir()
    (tmp / "link").symlink_to(tmp / "real")
    return {"state_dir": str(tmp / "link")}


def _state_dir_of_another_user(tmp: Path) -> dict[str, str]:
    (tmp / "other").mkdir()
    os.chown(tmp / "other", 65534, 65534)
    return {"state_dir": str(tmp / "other")}


def _xpp_order_garbage(tmp: Path) -> dict[str, str]:
    (tmp / "bad_order").write_text("usb:1\nusb:1\n")
    return {"xpp_order": str(tmp / "bad_order")}


def _program_of_another_user(tmp: Path) -> dict[str, str]:
    require_root("chown to another user")
    prog = tmp / "evil-drbdadm"
    prog.write_text("#!/bin/sh\nexit 0\n")
    prog.chmod(0o777)
    os.chown(prog, 4321, 4321)
    return {"drbdadm": str(prog)}


def _program_in_a_group_writable_directory(tmp: Path) -> dict[str, str]:
    (tmp / "bin").mkdir()
    (tmp / "bin").chmod(0o775)
    prog = tmp / "bin" / "drbdadm"
    prog.write_text("#!/bin/sh\nexit 0\n")
    prog.chmod(0o755)
    return {"drbdadm": str(prog)}


def _xpp_order_world_writable(tmp: Path) -> dict[str, str]:
    (tmp / "open_order").write_text("usb:00000135\n")
    (tmp / "open_order").chmod(0o666)
    return {"xpp_order": str(tmp / "open_order")}


def _xpp_order_fifo(tmp: Path) -> dict[str, str]:
    os.mkfifo(tmp / "fifo_order")
    return {"xpp_order": str(tmp / "fifo_order")}


BAD: dict[str, tuple[Setup, str, str]] = {
    "program writable by others": (_program_of_another_user, "program drbdadm", "evil-drbdadm is owned by uid 4321, not root"),
    "program in a group-writable directory": (
        _program_in_a_group_writable_directory, "program drbdadm", "bin is writable by group or others (mode 0775)"
    ),
    "xpp_order writable by others": (_xpp_order_world_writable, "xpp_order", "open_order is writable by group or others"),
    "xpp_order is a FIFO": (_xpp_order_fifo, "xpp_order", "fifo_order: is a FIFO, expected a regular file"),
    "program missing": (lambda t: {"drbdadm": "/nonexistent/drbdadm"}, "program drbdadm", "/nonexistent/drbdadm does not exist"),
    "drain program missing": (
        lambda t: {"drain_check": "/nonexistent/asterisk"},
        "program /nonexistent/asterisk",
        "/nonexistent/asterisk does not exist or is not executable (install it or fix its path under programs: in the configuration) (needed by switchover.drain_check)",
    ),
    "interface missing": (lambda t: {"interface": "tsnothere0"}, "step ip:10.213.7.10/24", "interface tsnothere0 does not exist"),
    "mountpoint missing": (lambda t: {"mountpoint": str(t / "nomount")}, "step drbd:r0", "nomount is not a directory"),
    "state_dir is a file": (_state_dir_is_a_file, "state_dir", "is not a directory"),
    "state_dir is a symlink": (_state_dir_is_a_symlink, "state_dir", "is not a directory"),
    "xpp_order missing": (lambda t: {"xpp_order": str(t / "no_order")}, "xpp_order", "no_order: not found"),
    "xpp_order malformed": (_xpp_order_garbage, "xpp_order", "bad_order:2: duplicate entry usb:1"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_each_unusable_part_is_an_error_finding_and_exit_2(tmp_path: Path, case: str) -> None:
    setup, subject, text = BAD[case]
    values = {**_good(tmp_path), **setup(tmp_path)}
    config = _write(tmp_path, **values)
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    result = run_twinstar(config, "check", "--json")
    assert result.returncode == 2, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is False
    # The installation finding depends on the host (make install or not): not this test's subject.
    errors = [f for f in report["findings"] if f["level"] == "error" and f["subject"] != "installation"]
    assert [f["subject"] for f in errors] == [subject], errors
    assert text in errors[0]["message"]
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before, "check changed the file system"

    text_out = run_twinstar(config, "check")
    assert text_out.returncode == 2
    assert f"  error    {subject}: " in text_out.stdout
    assert text_out.stdout.rstrip().endswith("check: FAILED")


@pytest.mark.privileged
def test_state_dir_of_another_user_is_an_error(tmp_path: Path) -> None:
    config = config_mod.load(str(_write(tmp_path, **{**_good(tmp_path), **_state_dir_of_another_user(tmp_path)})))
    findings = [f for f in run_checks(config) if f.subject == "state_dir"]
    assert [(f.level, "owned by uid 65534" in f.message) for f in findings] == [(Level.ERROR, True)]


def test_on_ready_programs_are_checked_like_the_steps(tmp_path: Path) -> None:
    path = _write(tmp_path, **_good(tmp_path))
    path.write_text(path.read_text() + "on_ready:\n  - [/bin/echo, ready]\n  - [/nonexistent/xpp_blink, bzzt, xpd, '00']\n")
    findings = {f.subject: f for f in run_checks(config_mod.load(str(path)), [c for c in CHECKS if c is not check_installation])}
    assert findings["program /bin/echo"].level == Level.OK  # needed by the drain check first, and by on_ready[0]
    missing = findings["program /nonexistent/xpp_blink"]
    assert missing.level == Level.ERROR and missing.message.endswith("(needed by on_ready[1])"), missing
