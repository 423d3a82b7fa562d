"""The rules file, checked by the real ``udevadm test`` in a private mount namespace.

``udevadm`` exits 0 even when a rules file has errors; it reports them as
``FILE:LINE message`` lines, which is what these tests look for. The host's
/etc/udev/rules.d and /run/udev are untouched: both are mounted over inside
the namespace only.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.node import REPO

RULES = REPO / "udev" / "xpp_twinstar.rules"

SCRIPT = (
    "set -e; mount --bind \"$1\" /etc/udev/rules.d; "
    "if [ -d /run/udev ]; then mount -t tmpfs tmpfs /run/udev; else mount -t tmpfs tmpfs /run; mkdir /run/udev; fi; "
    "udevadm test --action=add /sys/class/net/lo"
)


def _udevadm_test(rules_dir: Path) -> str:
    if shutil.which("udevadm") is None or shutil.which("unshare") is None:
        pytest.fail("udevadm and unshare are needed (Debian packages udev and util-linux)")
    proc = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", SCRIPT, "sh", str(rules_dir)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout + proc.stderr


def _errors(output: str, name: str) -> list[str]:
    return [line for line in output.splitlines() if f"{name}:" in line]


@pytest.mark.privileged
@pytest.mark.parametrize("hookdir", ["@HOOKDIR@", "/usr/local/lib/twinstar/hooks"])
def test_rules_file_has_no_errors(tmp_path: Path, hookdir: str) -> None:
    (tmp_path / RULES.name).write_text(RULES.read_text().replace("@HOOKDIR@", hookdir))
    output = _udevadm_test(tmp_path)
    assert f"Reading rules file: /etc/udev/rules.d/{RULES.name}" in output
    assert _errors(output, RULES.name) == []
    assert "atribank_hook" not in output  # a net device never reaches the hook


@pytest.mark.privileged
def test_broken_copy_is_detected(tmp_path: Path) -> None:
    broken = RULES.read_text().replace('RUN+="', 'RUNN+="').replace('KERNEL!="xbus*"', 'KERNEL!="xbus*')
    (tmp_path / RULES.name).write_text(broken)
    errors = _errors(_udevadm_test(tmp_path), RULES.name)
    assert any("Invalid key 'RUNN'" in e for e in errors), errors
    assert len(errors) >= 2


def test_rule_filters_actions_subsystem_and_kernel_name() -> None:
    rules = [line for line in RULES.read_text().splitlines() if line and not line.startswith("#")]
    assert 'ACTION!="add|online|offline|remove", GOTO="twinstar_end"' in rules
    assert 'SUBSYSTEM!="astribanks", GOTO="twinstar_end"' in rules
    assert 'KERNEL!="xbus*", GOTO="twinstar_end"' in rules
    assert 'RUN+="@HOOKDIR@/atribank_hook"' in rules
    assert rules[-1] == 'LABEL="twinstar_end"'
