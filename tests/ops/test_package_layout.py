"""The Debian package's layout: what ``installation package`` stages, and ``twinstar check`` of a package installation.

Real files in a temporary directory; the package itself is built and
installed in tests/debian/test_package.py.
"""

from __future__ import annotations

import dataclasses
import stat
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO
from twinstar.ops.findings import Level
from twinstar.ops.installation import PACKAGE_LAYOUT, PACKAGE_SITE
from twinstar.ops.installcheck import check_package


def _stage(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "twinstar.ops.installation", "package", "--destdir", str(root), "--source", str(REPO)],
        capture_output=True, text=True, timeout=60, cwd=REPO, check=False,
    )


def test_package_stages_the_hooks_rule_units_and_example_at_debian_paths(tmp_path: Path) -> None:
    result = _stage(tmp_path)
    assert result.returncode == 0, result.stderr
    files = {"/" + str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file()}
    assert files == {
        "/usr/lib/twinstar/hooks/atribank_hook",
        "/usr/lib/twinstar/hooks/twinstar_hook",
        "/usr/lib/udev/rules.d/xpp_twinstar.rules",
        "/etc/twinstar/twinstar.yaml",
        "/usr/lib/ocf/resource.d/twinstar/astribank",
        *(f"/usr/lib/systemd/system/{p.name}" for p in (REPO / "systemd").glob("*.service")),
    }
    hook = tmp_path / "usr/lib/twinstar/hooks/atribank_hook"
    assert hook.read_text().splitlines()[0] == "#!/usr/bin/python3 -IS"  # isolated, without site: the package names its directory
    assert "\nPACKAGE_DIR = '/usr/lib/python3/dist-packages'\n" in hook.read_text()
    assert (tmp_path / "usr/lib/twinstar/hooks/twinstar_hook").read_text().splitlines()[0] == "#!/usr/bin/python3"
    assert hook.stat().st_mode & 0o111
    agent = tmp_path / "usr/lib/ocf/resource.d/twinstar/astribank"
    assert agent.stat().st_mode & 0o111 and "/usr/sbin/twinstar" in agent.read_text()
    assert 'RUN+="/usr/lib/twinstar/hooks/atribank_hook"' in (tmp_path / "usr/lib/udev/rules.d/xpp_twinstar.rules").read_text()
    assert "ExecStart=/usr/sbin/twinstar takeover --follow-up" in (
        tmp_path / "usr/lib/systemd/system/twinstar-takeover.service").read_text()
    config = tmp_path / "etc/twinstar/twinstar.yaml"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert config.read_bytes() == (REPO / "examples/twinstar.yaml").read_bytes()


def test_package_refuses_a_relative_python(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "twinstar.ops.installation", "package", "--destdir", str(tmp_path), "--python", "python3"],
        capture_output=True, text=True, timeout=60, cwd=REPO, check=False,
    )
    assert result.returncode == 2 and "PYTHON must be an absolute path" in result.stderr
    assert not any(tmp_path.iterdir())


def test_check_reports_the_package_files(tmp_path: Path) -> None:
    assert _stage(tmp_path).returncode == 0
    layout = dataclasses.replace(
        PACKAGE_LAYOUT,
        **{name: str(tmp_path) + getattr(PACKAGE_LAYOUT, name) for name in ("libdir", "sbindir", "udevrulesdir", "unitdir", "ocfdir")},
    )
    module = f"{PACKAGE_SITE}/twinstar/ops/installcheck.py"
    findings = check_package(module, layout)
    assert findings is not None and {f.level for f in findings} == {Level.OK}
    assert len(findings) == 10
    (tmp_path / "usr/lib/twinstar/hooks/atribank_hook").chmod(0o644)
    (tmp_path / "usr/lib/systemd/system/twinstar-takeover.service").unlink()
    errors = {f.subject: f.message for f in check_package(module, layout) or [] if f.level == Level.ERROR}
    assert errors == {
        f"hook {tmp_path}/usr/lib/twinstar/hooks/atribank_hook": "not executable: apt-get install --reinstall twinstar",
        f"unit {tmp_path}/usr/lib/systemd/system/twinstar-takeover.service": "missing: apt-get install --reinstall twinstar",
    }
    # Not run from the package: not a package installation.
    assert check_package(str(REPO / "twinstar/ops/installcheck.py"), layout) is None
