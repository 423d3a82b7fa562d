"""The Pacemaker examples: both CIBs pass crm_verify, their twinstar configurations load, and the
cluster test's generated CIB passes crm_verify (its corosync.conf is proven by the cluster test)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.pacemaker.cluster import cib_xml
from tests.support.cli import REPO
from twinstar import config as config_mod

EXAMPLES = REPO / "examples" / "pacemaker"


def crm_verify(path: Path) -> subprocess.CompletedProcess[str]:
    program = shutil.which("crm_verify", path="/usr/sbin:/usr/bin:/sbin:/bin")
    if program is None:
        pytest.fail("crm_verify is missing: sh .ci/setup installs pacemaker-cli-utils")
    return subprocess.run([program, "-V", "--xml-file", str(path)], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("name", ["cib-standard.xml", "cib-takeover.xml"])
def test_example_cib_is_valid(name: str) -> None:
    result = crm_verify(EXAMPLES / name)
    assert result.returncode == 0 and "error" not in result.stderr, result.stderr
    assert 'provider="twinstar" type="astribank"' in (EXAMPLES / name).read_text()


@pytest.mark.parametrize(
    ("name", "kinds"),
    [("twinstar.yaml", ["dahdi"]), ("twinstar-takeover.yaml", ["dahdi", "drbd", "ip", "service", "service"])],
)
def test_example_configuration_loads(name: str, kinds: list[str]) -> None:
    config = config_mod.load(str(EXAMPLES / name), strict_modes=False)
    assert [spec.kind for spec in config.takeover] == kinds
    assert config.maintenance_file == "/etc/twinstar/maintenance"


def test_the_cluster_tests_cib_is_valid(tmp_path: Path) -> None:
    path = tmp_path / "cib.xml"
    path.write_text(cib_xml(preferred="pbx-a", config="/etc/twinstar/twinstar.yaml", vip="10.213.17.100", nic="tss0", service="pbx"))
    result = crm_verify(path)
    assert result.returncode == 0 and "error" not in result.stderr, result.stderr

